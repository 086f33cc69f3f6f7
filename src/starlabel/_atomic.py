"""Atomic writing: write beside the target under a temporary name, then rename.

Temporary names say who owns them: ``.NAME.<host>-<pid>.<8 hex>.tmp`` for files and
``.NAME.<host>-<pid>.<8 hex>.tmpdir`` for directories, in the target's folder.
Files and directories made here honour the umask (``0o666 & ~umask`` and
``0o777 & ~umask``), so a colleague in the group can read a catalogue.

Stale temporaries (left by ``kill -9`` or a power cut) are removed when the next
atomic write to the *same target* starts. Removed are only entries of that exact
target, owned by the current user, and

* in the current format, made on this host by a process that no longer runs
  (temporaries of other hosts are kept: whether their writer still runs cannot be
  known from here; a pid that is alive, even if reused by another program, is kept);
* in the format of earlier starlabel versions (``.NAME.<8 chars>.tmp``, made by
  ``tempfile.mkstemp``, mode 0600, no owner in the name), when not modified for
  :data:`LEGACY_STALE_SECONDS` (an hour: a live writer touches its file far more
  often than that).

Anything else in the folder is never touched.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import socket
import stat
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from ._typing import PathLike
from .errors import StarlabelInputError

__all__ = [
    "atomic_path",
    "atomic_dir",
    "atomic_group",
    "AtomicFile",
    "check_output",
    "check_output_dir",
    "current_umask",
    "remove_stale_temporaries",
    "LEGACY_STALE_SECONDS",
    "DATASET_SUFFIXES",
]

LEGACY_STALE_SECONDS = 3600.0
DATASET_SUFFIXES = (".h5", ".hdf5")
_UMASK_LOCK = threading.Lock()


# ------------------------------------------------------------------- umask
def current_umask() -> int:
    """The process umask, read without changing it where the system allows.

    Linux >= 4.7 reports it in ``/proc/self/status``; elsewhere it is read with
    ``os.umask`` (set, then restored at once), under a lock so that threads of this
    program never see the temporary value through this function.
    """
    with (
        contextlib.suppress(OSError, ValueError),
        open("/proc/self/status", encoding="ascii") as fh,
    ):
        for line in fh:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    with _UMASK_LOCK:
        old = os.umask(0o022)
        os.umask(old)
    return old


def _file_mode() -> int:
    return 0o666 & ~current_umask()


# ------------------------------------------------------------ temp names
def _host() -> str:
    return re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname() or "host")


def _temp_name(target: Path, kind: str) -> Path:
    owner = f"{_host()}-{os.getpid()}"
    return target.with_name(f".{target.name}.{owner}.{secrets.token_hex(4)}.{kind}")


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return True  # not a real pid: keep the file
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists (another user's process) or unknown: keep
    return True


def remove_stale_temporaries(
    target: PathLike, *, now: float | None = None
) -> list[Path]:
    """Remove stale temporaries of ``target`` (see the module docstring).

    Returns:
        the entries removed.
    """
    target = Path(target)
    folder = target.parent
    if not folder.is_dir():
        return []
    name = re.escape(target.name)
    current = re.compile(
        rf"^\.{name}\.{re.escape(_host())}-(\d+)\.[0-9a-f]{{8}}\.(tmp|tmpdir)$"
    )
    legacy = re.compile(rf"^\.{name}\.[a-z0-9_]{{8}}\.tmp$")
    now = time.time() if now is None else now
    uid = os.getuid() if hasattr(os, "getuid") else None
    removed: list[Path] = []
    prefix = f".{target.name}."
    try:
        entries = [e for e in os.scandir(folder) if e.name.startswith(prefix)]
    except OSError:
        return []
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if uid is not None and st.st_uid != uid:
            continue
        m = current.match(entry.name)
        if m is not None:
            kind = m.group(2)
            if _pid_alive(int(m.group(1))):
                continue
        elif legacy.match(entry.name) is not None:
            kind = "tmp"
            if (
                stat.S_IMODE(st.st_mode) != 0o600
                or now - st.st_mtime < LEGACY_STALE_SECONDS
            ):
                continue
        else:
            continue
        path = folder / entry.name
        with contextlib.suppress(OSError):
            if kind == "tmp" and stat.S_ISREG(st.st_mode):
                path.unlink()
                removed.append(path)
            elif kind == "tmpdir" and stat.S_ISDIR(st.st_mode):
                shutil.rmtree(path)
                removed.append(path)
    return removed


# ------------------------------------------------------------------ checks
def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _suffix_ok(path: Path, suffixes: Sequence[str]) -> bool:
    name = path.name.lower()
    return any(name.endswith(s.lower()) for s in suffixes)


def _check_parent(path: Path) -> None:
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


def check_output(
    path: PathLike, *, overwrite: bool, suffixes: Sequence[str] | None = None
) -> Path:
    """Check that a file may be written at ``path``, before any work is done.

    Args:
        path: the file to write.
        overwrite: an existing file may be replaced (the user passed ``--overwrite``).
        suffixes: accepted endings (case-insensitive), e.g. :data:`DATASET_SUFFIXES`.

    Returns:
        ``path`` as a :class:`Path`.

    Raises:
        StarlabelInputError: the path is an existing directory (or another
            non-file), has the wrong suffix, lies in a folder that is not a
            directory or not writable, or exists and ``overwrite`` is False.
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
    _check_parent(path)
    if path.exists() or path.is_symlink():
        if not path.is_file():
            raise StarlabelInputError(
                "exists and is not a regular file; choose another name", path=path
            )
        if not overwrite:
            raise StarlabelInputError(
                "exists; pass --overwrite to replace it", path=path
            )
    return path


def check_output_dir(path: PathLike, *, overwrite: bool) -> Path:
    """Check that a folder of outputs may be written at ``path``.

    A missing folder is fine (it is made); an existing one must be a directory, and
    empty unless ``overwrite`` (files of the same names are then replaced).

    Raises:
        StarlabelInputError: the path is a file, its parent is not writable, or the
            folder holds files and ``overwrite`` is False.
    """
    path = Path(path)
    if path.exists() or path.is_symlink():
        if not path.is_dir():
            raise StarlabelInputError(
                "exists and is not a directory; give a folder to write into", path=path
            )
        if not overwrite and any(path.iterdir()):
            raise StarlabelInputError(
                "folder is not empty; pass --overwrite to write into it", path=path
            )
        if not os.access(path, os.W_OK | os.X_OK):
            raise StarlabelInputError("folder is not writable", path=path)
    else:
        _check_parent(path)
    return path


# ------------------------------------------------------------ atomic file
class AtomicFile:
    """A temporary file beside ``target`` that :meth:`commit` renames onto it.

    The temporary file is created at once (empty, mode ``0o666 & ~umask``); writers
    may also replace it. :meth:`discard` removes it. Stale temporaries of the same
    target are removed first (module docstring).

    Args:
        target: the file to produce.
        overwrite: when False, :meth:`commit` refuses to replace a file that exists
            by then (it appeared while we wrote).
    """

    def __init__(self, target: PathLike, *, overwrite: bool = True) -> None:
        self.target = Path(target)
        self.overwrite = overwrite
        self.target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.target)
        while True:
            tmp = _temp_name(self.target, "tmp")
            try:
                fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
            except FileExistsError:
                continue
            os.close(fd)
            break
        self.tmp = tmp
        self.done = False

    def commit(self) -> Path:
        """Move the temporary file onto the target (mode ``0o666 & ~umask``)."""
        if self.done:
            return self.target
        try:
            mode = _file_mode()
            with contextlib.suppress(FileNotFoundError):
                if stat.S_IMODE(self.tmp.stat().st_mode) != mode:
                    os.chmod(self.tmp, mode)  # a library may have made it 0600
            if self.overwrite:
                os.replace(self.tmp, self.target)
            else:
                _rename_no_replace(self.tmp, self.target)
        except BaseException:
            self.discard()
            raise
        self.done = True
        return self.target

    def discard(self) -> None:
        """Remove the temporary file (the target is not touched)."""
        self.done = True
        with contextlib.suppress(FileNotFoundError):
            self.tmp.unlink()


def _rename_no_replace(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)  # fails if dst exists: no window for a race
    except FileExistsError:
        raise StarlabelInputError(
            "appeared while this run was writing it; not replaced (pass --overwrite)",
            path=dst,
        ) from None
    except OSError:  # no hard links on this file system
        if dst.exists():
            raise StarlabelInputError(
                "appeared while this run was writing it; not replaced (pass --overwrite)",
                path=dst,
            ) from None
        os.replace(src, dst)
        return
    src.unlink()


@contextlib.contextmanager
def atomic_path(path: PathLike, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto ``path`` on success.

    On any exception the temporary file is removed and ``path`` is left untouched,
    so a failed run never leaves a partial file behind. The file gets mode
    ``0o666 & ~umask``. With ``overwrite=False`` a file that appeared at ``path``
    meanwhile is not replaced (:class:`StarlabelInputError`); check up front with
    :func:`check_output`.
    """
    handle = AtomicFile(path, overwrite=overwrite)
    try:
        yield handle.tmp
    except BaseException:
        handle.discard()
        raise
    handle.commit()


@contextlib.contextmanager
def atomic_group(
    paths: Sequence[PathLike], *, overwrite: bool = True
) -> Iterator[list[Path]]:
    """Several files that appear together or not at all.

    Yields one temporary path per target (as :func:`atomic_path`). When the block
    succeeds all are renamed into place; if a rename fails midway, the targets this
    call already put in place are removed again and the rest are discarded. On an
    exception in the block every temporary file is removed and no target touched.
    Check the targets up front with :func:`check_output`.
    """
    targets = [Path(p) for p in paths]
    if len({t.absolute() for t in targets}) != len(targets):
        raise ValueError("paths: the same target is named twice")
    handles: list[AtomicFile] = []
    try:
        for t in targets:
            handles.append(AtomicFile(t, overwrite=overwrite))
        yield [h.tmp for h in handles]
    except BaseException:
        for h in handles:
            h.discard()
        raise
    placed: list[Path] = []
    try:
        for h in handles:
            placed.append(h.commit())
    except BaseException:
        for h in handles:
            h.discard()
        for p in placed:
            with contextlib.suppress(OSError):
                p.unlink()
        raise


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
    while True:
        tmp = _temp_name(target, "tmpdir")
        try:
            os.mkdir(tmp, 0o777)
        except FileExistsError:
            continue
        break
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
