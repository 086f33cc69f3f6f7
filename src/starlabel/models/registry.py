"""The explicit registry of estimator classes, and :func:`load`.

A model directory names its class in ``model.json``; the class is looked up in
:data:`MODELS` (a dict written out here, not filled by import side effects), and no
module named in a file is ever imported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .._typing import PathLike
from .cinn import ConditionalINNRegressor
from .cnn import DeepEnsembleRegressor
from .emulator import SpectrumEmulator
from .gandalf import LatentAutoencoder
from .persist import read_manifest

__all__ = ["DEFAULT_KIND", "MODELS", "load", "model_class"]

#: Estimator classes by kind (``starlabel train --model KIND``).
MODELS: dict[str, type] = {
    "cnn": DeepEnsembleRegressor,
    "cinn": ConditionalINNRegressor,
    "gandalf": LatentAutoencoder,
    "emulator": SpectrumEmulator,
}
#: the kind ``train`` and ``tune`` use when none is given.
DEFAULT_KIND = "cnn"


def model_class(kind: str) -> type:
    """The estimator class of ``kind`` (``cnn``, ``cinn``, ``gandalf``, ``emulator``).

    Example:
        >>> model_class("cnn").__name__
        'DeepEnsembleRegressor'
    """
    if kind not in MODELS:
        raise ValueError(f"--model: choose from {', '.join(MODELS)}, got {kind!r}")
    return MODELS[kind]


def load(path: PathLike) -> Any:
    """Load any starlabel model directory.

    Raises:
        StarlabelInputError: not a model directory, an unknown class or format
            version, or damaged files (one line naming the directory).

    Example:
        >>> import tempfile
        >>> from starlabel.errors import StarlabelInputError
        >>> try:
        ...     load(tempfile.mkdtemp())
        ... except StarlabelInputError as exc:
        ...     print(exc.problem)
        no model.json: not a starlabel model directory
    """
    by_class = {cls.__name__: cls for cls in MODELS.values()}
    manifest = read_manifest(path, known=by_class)
    return by_class[manifest["class"]].from_manifest(Path(path), manifest)
