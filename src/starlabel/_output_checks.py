"""Checks made before a command does any work: may an output be written at a path?

The ownership rule (:mod:`starlabel._owned`): an existing output is replaced only
when starlabel wrote it and the user passed ``--overwrite``; anything else there is
refused, with the flag or without, in one line naming the path.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ._owned import FOLDER_MARKER, folder_command, folder_files, is_ours
from ._typing import PathLike
from .errors import StarlabelInputError

__all__ = ["NOT_OURS", "check_output", "check_output_dir", "check_parent"]


# ------------------------------------------------------------------ checks
def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _suffix_ok(path: Path, suffixes: Sequence[str]) -> bool:
    name = path.name.lower()
    return any(name.endswith(s.lower()) for s in suffixes)


def check_parent(path: Path) -> None:
    """The folder that will hold ``path`` exists (or can be made) and is writable."""
    parent = path.parent if str(path.parent) else Path(".")
    base = _nearest_existing(parent.absolute())
    if not base.is_dir():
        raise StarlabelInputError(
            f"cannot write here: {base} is not a directory", path=path
        )
    if not os.access(base, os.W_OK | os.X_OK):
        raise StarlabelInputError(
            f"cannot write here: folder {base} is not writable", path=path
        )


NOT_OURS = (
    "exists and was not written by starlabel (it carries no starlabel marker); "
    "starlabel never replaces it, --overwrite or not: choose another name"
)


def check_output(
    path: PathLike, *, overwrite: bool, suffixes: Sequence[str] | None = None
) -> Path:
    """Check that a file may be written at ``path``, before any work is done.

    Args:
        path: the file to write.
        overwrite: an earlier result of starlabel at ``path`` may be replaced (the
            user passed ``--overwrite``).
        suffixes: accepted endings (case-insensitive), e.g. ``(".h5", ".hdf5")``.

    Returns:
        ``path`` as a :class:`Path`.

    Raises:
        StarlabelInputError: the path is an existing directory (or another
            non-file), has the wrong suffix, lies in a folder that is not a
            directory or not writable, exists and starlabel did not write it, or
            exists (ours) and ``overwrite`` is False.
    """
    path = Path(path)
    if path.is_dir():
        raise StarlabelInputError(
            "is a directory; give a file name to write", path=path
        )
    if suffixes and not _suffix_ok(path, suffixes):
        want = " or ".join(suffixes)
        got = path.suffix or "no extension"
        raise StarlabelInputError(
            f"the file name must end in {want} (got {got!r})", path=path
        )
    check_parent(path)
    if path.exists() or path.is_symlink():
        if path.is_symlink() or not path.is_file():
            raise StarlabelInputError(
                "exists and is not a regular file; choose another name", path=path
            )
        if not is_ours(path):
            raise StarlabelInputError(NOT_OURS, path=path)
        if not overwrite:
            raise StarlabelInputError(
                "exists (an earlier result of starlabel); pass --overwrite to "
                "replace it",
                path=path,
            )
    return path


def check_output_dir(
    path: PathLike, *, overwrite: bool, command: str | None = None
) -> Path:
    """Check that a folder of outputs may be written at ``path``.

    A missing or empty folder is fine. A folder with files must be an earlier
    output folder of starlabel (its :data:`FOLDER_MARKER`; of the same
    ``command`` when given), ``overwrite`` must be set, and it may hold no file
    that starlabel did not write there (it would be lost with the old result).
    starlabel's other folders (a model, a tune study, a catalogue folder, the
    demo) are never replaced by another command.

    Raises:
        StarlabelInputError: one line saying why, naming the folder.
    """
    path = Path(path)
    if not (path.exists() or path.is_symlink()):
        check_parent(path)
        return path
    if path.is_symlink() or not path.is_dir():
        raise StarlabelInputError(
            "exists and is not a directory; give a folder to write into", path=path
        )
    if not os.access(path, os.W_OK | os.X_OK):
        raise StarlabelInputError("folder is not writable", path=path)
    if not any(path.iterdir()):
        return path
    found = folder_command(path)
    if found is None:
        if is_ours(path):
            raise StarlabelInputError(
                "holds another kind of starlabel result (a model, tune study, "
                "catalogue folder or demo); it is not replaced: choose another -o",
                path=path,
            )
        raise StarlabelInputError(
            "folder holds files and was not written by starlabel (no "
            f"{FOLDER_MARKER}); starlabel never writes into it, --overwrite or "
            "not: choose another -o",
            path=path,
        )
    if command is not None and found != command:
        raise StarlabelInputError(
            f"holds the output of `starlabel {found}`, not of `starlabel {command}`; "
            "it is not replaced: choose another -o",
            path=path,
        )
    if not overwrite:
        raise StarlabelInputError(
            "holds an earlier result of starlabel; pass --overwrite to replace it",
            path=path,
        )
    own = folder_files(path)
    foreign = sorted(
        p.relative_to(path).as_posix()
        for p in path.rglob("*")
        if p.is_file() and p.relative_to(path).as_posix() not in own
    )
    if foreign:
        raise StarlabelInputError(
            f"holds files starlabel did not write ({', '.join(foreign[:5])}); "
            "they would be lost with the old result: move them away or choose "
            "another -o",
            path=path,
        )
    return path
