"""Model directories: ``model.json`` + ``*.safetensors``; nothing is ever unpickled.

Layout (ARCHITECTURE.md)::

    MODEL/model.json          format, format_version, class, versions, config,
                              label_spec, grid summary, training fingerprint,
                              metrics, seeds, member files
    MODEL/grid.safetensors    the wavelength grid (float64, Angstrom)
    MODEL/member-00.safetensors ... one per ensemble member
    MODEL/history.json        losses per epoch and member

``load`` reads only ``model.json`` (JSON) and the ``.safetensors`` files it names
(plain file names inside the directory); any other file, a pickle included, is
ignored. The class is looked up in an explicit registry; no module named in a file
is ever imported.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from .._typing import PathLike
from ..errors import StarlabelInputError

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "REGISTRY",
    "register_model",
    "save_model_dir",
    "read_manifest",
    "load_tensors",
    "load",
    "grid_fingerprint",
]

FORMAT = "starlabel-model"
FORMAT_VERSION = 1
REGISTRY: dict[str, Callable[[Path, dict[str, Any]], Any]] = {}
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]+\.safetensors$")


def register_model(name: str) -> Callable:
    """Register ``cls.from_manifest(path, manifest)`` under ``name`` for :func:`load`."""

    def decorate(cls):
        REGISTRY[name] = cls.from_manifest
        return cls

    return decorate


def grid_fingerprint(wavelength: np.ndarray) -> str:
    """SHA-256 of the float64 grid rounded to 1e-6 Angstrom."""
    return hashlib.sha256(
        np.round(np.asarray(wavelength, dtype=np.float64), 6).tobytes()
    ).hexdigest()


def save_model_dir(
    path: PathLike,
    manifest: dict[str, Any],
    tensors: dict[str, dict[str, torch.Tensor]],
    *,
    history: dict[str, Any] | None = None,
) -> Path:
    """Write a model directory atomically (temporary folder, then rename).

    Args:
        path: the directory to create (an existing one is replaced).
        manifest: JSON-serialisable description; ``files`` is filled in here.
        tensors: file name -> tensors, each file a ``.safetensors``.
        history: training history, written as ``history.json``.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        for name, state in tensors.items():
            if not _SAFE_NAME.match(name):
                raise ValueError(f"tensors: bad file name {name!r}")
            save_file(
                {k: v.detach().contiguous().cpu() for k, v in state.items()},
                str(tmp / name),
            )
        full = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            **manifest,
            "files": sorted(tensors),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        (tmp / "model.json").write_text(
            json.dumps(full, indent=2, default=_json_default), encoding="utf-8"
        )
        if history is not None:
            (tmp / "history.json").write_text(
                json.dumps(history, default=_json_default), encoding="utf-8"
            )
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
            tmp.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (set, tuple)):
        return list(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def read_manifest(path: PathLike) -> dict[str, Any]:
    """Read and check ``model.json``.

    Raises:
        StarlabelInputError: no model.json, unreadable JSON, another format, a newer
            format version, an unknown class, or unsafe file names.
    """
    root = Path(path)
    file = root / "model.json"
    if not root.is_dir():
        raise StarlabelInputError("not a model directory", path=root)
    if not file.exists():
        raise StarlabelInputError(
            "no model.json: not a starlabel model directory", path=root
        )
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StarlabelInputError(
            f"model.json is not valid JSON ({exc.msg if hasattr(exc, 'msg') else exc})",
            path=file,
        ) from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise StarlabelInputError(f"model.json: format is not {FORMAT!r}", path=file)
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise StarlabelInputError(
            f"model format version {version!r} is not supported (this starlabel reads up to "
            f"{FORMAT_VERSION}); upgrade starlabel",
            path=file,
        )
    if manifest.get("class") not in REGISTRY:
        raise StarlabelInputError(
            f"unknown model class {manifest.get('class')!r}; known: {sorted(REGISTRY)}",
            path=file,
        )
    for name in manifest.get("files", []):
        if not isinstance(name, str) or not _SAFE_NAME.match(name):
            raise StarlabelInputError(
                f"model.json names an unsafe weight file {name!r}", path=file
            )
    return manifest


def load_tensors(path: PathLike, name: str) -> dict[str, torch.Tensor]:
    """Tensors of one ``.safetensors`` file of a model directory (no code is run)."""
    if not _SAFE_NAME.match(name):
        raise StarlabelInputError(f"unsafe weight file name {name!r}", path=path)
    file = Path(path) / name
    if not file.exists():
        raise StarlabelInputError(f"weight file {name} is missing", path=path)
    try:
        return load_file(str(file))
    except Exception as exc:  # safetensors raises its own error types for damaged files
        raise StarlabelInputError(
            f"weight file {name} is damaged: {exc}", path=path
        ) from exc


def load(path: PathLike) -> Any:
    """Load any starlabel model directory.

    Example:
        >>> import tempfile
        >>> try:
        ...     load(tempfile.mkdtemp())
        ... except Exception as exc:
        ...     print(type(exc).__name__)
        StarlabelInputError
    """
    from . import cinn, cnn, gandalf  # noqa: F401  (registers the built-in classes)

    manifest = read_manifest(path)
    return REGISTRY[manifest["class"]](Path(path), manifest)
