"""Model directories: ``model.json`` + ``*.safetensors``; nothing is ever unpickled.

Layout (ARCHITECTURE.md)::

    MODEL/model.json          format, format_version, class, versions, config,
                              label_spec, grid summary, training fingerprint,
                              metrics, seeds, member files
    MODEL/grid.safetensors    the wavelength grid (float64, Angstrom)
    MODEL/member-00.safetensors ... one per ensemble member
    MODEL/history.json        losses per epoch and member
    MODEL/config.toml         the resolved run (``starlabel train --config``)

Loading (:func:`starlabel.load`, in ``registry.py``) reads only ``model.json``
(JSON) and the ``.safetensors`` files it names (plain file names inside the
directory); any other file, a pickle included, is ignored. The class is looked up
in an explicit registry; no module named in a file is ever imported. Saving never
replaces a directory starlabel did not write, and replaces one it did only when
asked (``overwrite``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from .._atomic import check_output_dir, current_umask
from .._staging import atomic_dir
from .._typing import PathLike
from ..errors import StarlabelInputError

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "check_model_target",
    "grid_fingerprint",
    "is_model_dir",
    "load_tensors",
    "read_manifest",
    "save_model_dir",
]

FORMAT = "starlabel-model"
FORMAT_VERSION = 2
# Format 2 (starlabel 0.x, the models as one family): every model lists its
# networks as ``members`` ({file, seed, best_valid_loss}); history.json keys them
# ``members``; the label scaler is ``label_scaler`` in the weight files. Format 1
# directories are read through :func:`_upgrade_v1`.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]+\.safetensors$")
# Files a model directory may hold besides the weight files its manifest names.
_OWN_FILES = ("model.json", "history.json", "config.toml")


def grid_fingerprint(wavelength: np.ndarray) -> str:
    """SHA-256 of the float64 grid rounded to 1e-6 Angstrom."""
    return hashlib.sha256(
        np.round(np.asarray(wavelength, dtype=np.float64), 6).tobytes()
    ).hexdigest()


def is_model_dir(path: PathLike) -> bool:
    """A directory holding a ``model.json`` of format ``starlabel-model``."""
    file = Path(path) / "model.json"
    try:
        return json.loads(file.read_text(encoding="utf-8")).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def _own_files(path: Path) -> set[str]:
    """Names of the files starlabel wrote into model directory ``path``."""
    try:
        manifest = json.loads((path / "model.json").read_text(encoding="utf-8"))
        listed = {n for n in manifest.get("files", []) if isinstance(n, str)}
    except (OSError, ValueError, AttributeError):
        listed = set()
    return listed | set(_OWN_FILES)


def check_model_target(path: PathLike, *, overwrite: bool = False) -> None:
    """Refuse a model output that would replace or delete anything not ours.

    A new path is fine. An existing path is accepted only when it is a model
    directory written by starlabel, ``overwrite`` is set, and it holds no file
    starlabel did not write there (those would be lost with it).

    Raises:
        StarlabelInputError: one line saying why and what to do.
    """
    target = Path(path)
    if not target.exists() and not target.is_symlink():
        check_output_dir(target, overwrite=False)  # the folder above must take it
        return
    if target.is_symlink() or not target.is_dir():
        raise StarlabelInputError(
            "exists and is not a model directory; choose another -o", path=target
        )
    if not is_model_dir(target):
        raise StarlabelInputError(
            "exists and is not a model directory written by starlabel (no starlabel "
            "model.json); nothing was touched: choose another -o",
            path=target,
        )
    if not overwrite:
        raise StarlabelInputError(
            "a model directory already exists; pass --overwrite to replace it",
            path=target,
        )
    foreign = sorted(
        p.name for p in target.iterdir() if p.name not in _own_files(target)
    )
    if foreign:
        raise StarlabelInputError(
            f"holds files starlabel did not write ({', '.join(foreign[:5])}); move them "
            "away or choose another -o",
            path=target,
        )


def save_model_dir(
    path: PathLike,
    manifest: dict[str, Any],
    tensors: dict[str, dict[str, torch.Tensor]],
    *,
    history: dict[str, Any] | None = None,
    texts: dict[str, str] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a model directory atomically (temporary folder, then rename).

    Args:
        path: the directory to create; an existing one is replaced only with
            ``overwrite`` and only if starlabel wrote it (:func:`check_model_target`).
        manifest: JSON-serialisable description; ``files`` is filled in here.
        tensors: file name -> tensors, each file a ``.safetensors``.
        history: training history, written as ``history.json``.
        texts: further text files (``config.toml``).
        overwrite: replace an earlier model directory.

    Returns:
        the directory.
    """
    target = Path(path)
    check_model_target(target, overwrite=overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_dir(target) as tmp:
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
        for name, text in (texts or {}).items():
            if name not in _OWN_FILES:
                raise ValueError(f"texts: bad file name {name!r}")
            (tmp / name).write_text(text, encoding="utf-8")
        for file in tmp.iterdir():
            file.chmod(0o666 & ~current_umask())
        if target.exists():
            check_model_target(target, overwrite=overwrite)  # again, just before
            _replace_own(target, tmp)
    return target


def _replace_own(target: Path, new: Path) -> None:
    """Swap ``new`` in for model directory ``target``, deleting only our files."""
    own = _own_files(target)
    old = target.with_name(f".{target.name}.replaced-{os.getpid()}")
    target.rename(old)
    new.rename(target)
    for name in own:
        (old / name).unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # something else appeared: leave it
        old.rmdir()


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (set, tuple)):
        return list(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def read_manifest(path: PathLike, known: Iterable[str] = ()) -> dict[str, Any]:
    """Read and check ``model.json``.

    Raises:
        StarlabelInputError: no model.json, unreadable JSON, another format, a newer
            format version, a class not in ``known`` (when given), or unsafe file
            names.
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
    if version == 1:
        manifest = _upgrade_v1(manifest)
    known = sorted(known)
    if known and manifest.get("class") not in known:
        raise StarlabelInputError(
            f"unknown model class {manifest.get('class')!r}; known: {known}",
            path=file,
        )
    for name in manifest.get("files", []):
        if not isinstance(name, str) or not _SAFE_NAME.match(name):
            raise StarlabelInputError(
                f"model.json names an unsafe weight file {name!r}", path=file
            )
    return manifest


def _upgrade_v1(manifest: dict[str, Any]) -> dict[str, Any]:
    """A format-1 manifest in format 2's schema: the emulator's ``weights`` and
    ``valid_loss`` as its one member, the autoencoder's member with its last
    validation MSE as ``best_valid_loss``. (The weight files' old ``scaler``
    names are renamed as they load: ``nn.standardize.ScaledNetwork``.)"""
    out = dict(manifest)
    if "members" not in out and "weights" in out:
        out["members"] = [
            {
                "file": out.pop("weights"),
                "seed": out.get("random_state", 0),
                "best_valid_loss": out.pop("valid_loss", float("nan")),
            }
        ]
    metrics = out.get("metrics") if isinstance(out.get("metrics"), dict) else {}
    members = out.get("members")
    last = metrics.get("valid_mse")
    last = float("nan") if last is None else last
    if isinstance(members, list):
        out["members"] = [
            {"best_valid_loss": last} | dict(m) if isinstance(m, dict) else m
            for m in members
        ]
    out["format_version"] = FORMAT_VERSION
    out["read_from_format_version"] = 1
    return out


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
