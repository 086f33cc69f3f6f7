"""Folders of outputs that appear complete or not at all.

:func:`atomic_dir` builds a new folder under a temporary name and renames it into
place; :func:`staged_dir` also replaces an earlier result of ours in one step
(Linux ``renameat2`` exchange, else two renames) and writes the folder marker
(:mod:`starlabel._owned`) last, so a folder with a marker is complete. Temporary
names and the removal of stale ones are those of :mod:`starlabel._atomic`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from ._atomic import crash_point, make_temp_dir, remove_stale_temporaries, temp_name
from ._owned import write_folder_marker
from ._typing import PathLike
from .errors import StarlabelInputError

__all__ = ["atomic_dir", "staged_dir"]


@contextlib.contextmanager
def atomic_dir(path: PathLike) -> Iterator[Path]:
    """Yield a new temporary directory beside ``path``; rename it onto ``path`` on success.

    The directory is made with mode ``0o777 & ~umask``. ``path`` must not exist
    when the block ends (:class:`StarlabelInputError` otherwise, and the temporary
    directory is removed). The block may instead move the temporary directory into
    place itself (for example to swap it for an old one): if it no longer exists at
    the end, nothing more is done. On an exception it is removed with its contents.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target)
    tmp = make_temp_dir(target)
    try:
        yield tmp
        if tmp.exists():
            if target.exists() or target.is_symlink():
                raise StarlabelInputError(
                    "exists; not replaced (pass --overwrite)", path=target
                )
            os.rename(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            if tmp.is_dir() and not tmp.is_symlink():
                shutil.rmtree(tmp)
        raise


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False
    where the system cannot."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    rc = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return rc == 0


def _swap_into_place(stage: Path, target: Path) -> None:
    """Put the complete folder ``stage`` at ``target``; an old ``target`` (checked
    by the caller: ours, or empty) is removed after. At every instant ``target``
    is the old folder, the new one, or (without an atomic exchange, for a moment)
    absent."""
    if not (target.exists() or target.is_symlink()):
        os.rename(stage, target)
        return
    if target.is_dir() and not target.is_symlink() and not any(target.iterdir()):
        os.rename(stage, target)  # replaces an empty folder
        return
    if _exchange(stage, target):
        crash_point("between")
        shutil.rmtree(stage)  # now the old result
        return
    old = temp_name(target)
    os.rename(target, old)
    crash_point("between")
    os.rename(stage, target)
    shutil.rmtree(old)


@contextlib.contextmanager
def staged_dir(path: PathLike, *, command: str) -> Iterator[Path]:
    """A folder of outputs that appears complete or not at all.

    Yields a new temporary folder beside ``path`` (mode ``0o777 & ~umask``); when
    the block succeeds, the folder marker (:func:`starlabel._owned.write_folder_marker`,
    listing every file) is written into it last and it replaces ``path`` in one
    step (an old ``path`` must have been checked with :func:`check_output_dir`).
    On an exception the stage is removed and ``path`` left as it was. Stale stages
    of killed runs are removed first (module docstring), so a rerun needs no
    ``--overwrite`` after a kill.

    Args:
        path: the output folder.
        command: the command that writes it (recorded in the marker).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target)
    stage = make_temp_dir(target)
    try:
        crash_point("stage")
        yield stage
        write_folder_marker(stage, command)
        crash_point("staged")
        _swap_into_place(stage, target)
    except BaseException:
        with contextlib.suppress(OSError):
            if stage.is_dir() and not stage.is_symlink():
                shutil.rmtree(stage)
        raise
