"""The settings of one survey run as one frozen object, and where its parts go."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._typing import PathLike
from .parts import MANIFEST

__all__ = ["RunSettings", "has_unfinished_run", "parts_folder"]


def parts_folder(output: PathLike) -> Path:
    """Where the parts of a run into ``output`` go: the folder itself for a folder
    output (a name without extension, or an existing folder), else
    ``OUTPUT.parts/`` beside the catalogue file.

    Example:
        >>> parts_folder("cat.fits").name, parts_folder("catalogue").name
        ('cat.fits.parts', 'catalogue')
    """
    output = Path(output)
    if output.is_dir() or not output.suffix:
        return output
    return output.with_name(output.name + ".parts")


def has_unfinished_run(output: PathLike) -> bool:
    """Whether a run into ``output`` left parts to resume (its manifest exists)."""
    return (parts_folder(output) / MANIFEST).is_file()


@dataclass(frozen=True, kw_only=True, slots=True)
class RunSettings:
    """What a survey run was asked to do, apart from the model and its inputs (the
    keywords of :func:`~starlabel.inference.runner.predict_survey`, which documents
    each one); ``options`` is already resolved to the model's predict options and
    ``chunk_size`` is the size asked for (``None``: settled from the parts)."""

    output: Path
    options: Any
    chunk_size: int | None = None
    workers: int = 0
    scheduler: str | None = None
    ood: Callable[[], Callable[[Any], np.ndarray]] | None = None
    predict: Callable[..., Any] | None = None
    run_key: dict[str, Any] | None = None
    meta: dict[str, str] | None = None
    source_column: bool = True
    keep_parts: bool = True
    progress: Callable[[int, int], None] | None = None
    log: PathLike | None = None
    overwrite: bool = False

    @property
    def store_dir(self) -> Path:
        """The parts folder of this run (see :func:`parts_folder`)."""
        return parts_folder(self.output)

    @property
    def folder(self) -> bool:
        """Whether the output is a folder (the parts are the catalogue)."""
        return self.store_dir == self.output

    @property
    def distributed(self) -> bool:
        """Whether the chunks run on Dask workers rather than in this process."""
        return bool(self.workers or self.scheduler)

    def identity(self, model_fp: str, kind: str) -> dict[str, Any]:
        """What makes the parts of this run: a part made under another identity is
        never mixed in."""
        return {
            "model": model_fp,
            "kind": kind,
            "options": repr(self.options),
            "extra": self.run_key or {},
        }
