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
import signal
import socket
import stat
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from ._output_checks import check_output, check_output_dir
from ._typing import PathLike
from .errors import StarlabelInputError

__all__ = [
    "atomic_path",
    "atomic_group",
    "crash_point",
    "AtomicFile",
    "check_output",
    "check_output_dir",
    "make_temp_dir",
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


# ------------------------------------------------------------ crash points
CRASH_ENV = "STARLABEL_CRASH_AT"
_CRASH_COUNTS: dict[str, int] = {}


def crash_point(name: str) -> None:
    """Kill this process with SIGKILL here when the environment asks for it.

    For the kill tests: ``STARLABEL_CRASH_AT=NAME[:K]`` kills the process the K-th
    time (default 1) it passes the point ``NAME``. The points are ``begin`` (a
    temporary file was just made), ``commit`` (a file is complete in its
    temporary place, about to be moved), ``stage`` (a staged output folder was
    just made), ``staged`` (it is complete, marker written, about to be moved) and
    ``between`` (midway through putting a multi-part output in place: between two
    files of a group, or between moving an old folder out and the new one in).
    Unset, this does nothing.
    """
    want = os.environ.get(CRASH_ENV)
    if not want:
        return
    point, _, count = want.partition(":")
    if point != name:
        return
    _CRASH_COUNTS[name] = _CRASH_COUNTS.get(name, 0) + 1
    if _CRASH_COUNTS[name] >= int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)


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
        crash_point("begin")

    def commit(self) -> Path:
        """Move the temporary file onto the target (mode ``0o666 & ~umask``)."""
        if self.done:
            return self.target
        crash_point("commit")
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
            if placed:
                crash_point("between")
            placed.append(h.commit())
    except BaseException:
        for h in handles:
            h.discard()
        for p in placed:
            with contextlib.suppress(OSError):
                p.unlink()
        raise


def make_temp_dir(target: PathLike) -> Path:
    """A new empty folder beside ``target`` under a temporary name of ours (mode
    ``0o777 & ~umask``)."""
    target = Path(target)
    while True:
        tmp = _temp_name(target, "tmpdir")
        try:
            os.mkdir(tmp, 0o777)
        except FileExistsError:
            continue
        return tmp


def temp_name(target: PathLike, kind: str = "tmpdir") -> Path:
    """A temporary name of ours beside ``target`` (not created)."""
    return _temp_name(Path(target), kind)
