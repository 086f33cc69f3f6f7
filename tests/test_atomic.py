"""Atomic writes: umask, owner-named temporaries, stale clean-up, output checks."""

import os
import socket
import stat
import subprocess
import sys
import time

import pytest

from starlabel._atomic import (
    LEGACY_STALE_SECONDS,
    atomic_group,
    atomic_path,
    check_output,
    check_output_dir,
    current_umask,
)
from starlabel._owned import write_folder_marker
from starlabel._staging import atomic_dir
from starlabel.errors import StarlabelInputError


@pytest.fixture
def umask():
    """Set the process umask for one test and restore it afterwards."""
    old = os.umask(0o022)
    os.umask(old)

    def set_(value: int) -> None:
        os.umask(value)

    yield set_
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _host() -> str:
    # The same sanitising as the library; hostnames are normally [A-Za-z0-9.-].
    return "".join(c if c.isalnum() or c == "." else "_" for c in socket.gethostname())


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o027, 0o640)])
def test_files_honour_the_umask(tmp_path, umask, mask, expected):
    umask(mask)
    assert current_umask() == mask
    target = tmp_path / "cat.csv"
    with atomic_path(target) as tmp:
        tmp.write_text("id\n")
    assert _mode(target) == expected
    # also when the writing library replaces the temporary file by a 0600 one
    other = tmp_path / "other.csv"
    with atomic_path(other) as tmp:
        tmp.unlink()
        fd = os.open(tmp, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)
    assert _mode(other) == expected


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o755), (0o027, 0o750)])
def test_directories_honour_the_umask(tmp_path, umask, mask, expected):
    umask(mask)
    target = tmp_path / "model"
    with atomic_dir(target) as tmp:
        (tmp / "model.json").write_text("{}")
    assert target.is_dir() and _mode(target) == expected
    assert (target / "model.json").read_text() == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_atomic_dir_failure_removes_the_temporary_directory(tmp_path):
    target = tmp_path / "model"
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "weights.safetensors").write_bytes(b"x" * 10)
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_atomic_dir_never_replaces_an_existing_target(tmp_path):
    target = tmp_path / "model"
    target.mkdir()  # empty: os.rename would silently replace it
    with pytest.raises(StarlabelInputError, match="exists"), atomic_dir(target) as tmp:
        (tmp / "model.json").write_text("{}")
    assert list(target.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_atomic_dir_accepts_a_block_that_moved_the_directory_itself(tmp_path):
    target = tmp_path / "model"
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("1")
        tmp.rename(target)
    assert (target / "a").read_text() == "1"


def test_temporary_names_name_their_owner(tmp_path):
    target = tmp_path / "x.h5"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path
        assert tmp.name.startswith(f".x.h5.{_host()}-{os.getpid()}.")
        assert tmp.name.endswith(".tmp")


def test_stale_temporaries_of_the_same_target_are_removed(tmp_path):
    target = tmp_path / "x.h5"
    host, dead = _host(), _dead_pid()
    stale = tmp_path / f".x.h5.{host}-{dead}.0123abcd.tmp"
    stale_dir = tmp_path / f".x.h5.{host}-{dead}.89abcdef.tmpdir"
    live = tmp_path / f".x.h5.{host}-{os.getpid()}.aaaabbbb.tmp"
    other_host = tmp_path / f".x.h5.elsewhere-{dead}.ccccdddd.tmp"
    other_target = tmp_path / f".x.h5.bak.{host}-{dead}.0123abcd.tmp"
    unrelated = tmp_path / ".x.h5.notes.tmp"
    legacy_old = tmp_path / ".x.h5.k2j_9zq1.tmp"
    legacy_new = tmp_path / ".x.h5.abcdefgh.tmp"
    for p in (stale, live, other_host, other_target, unrelated, legacy_old, legacy_new):
        p.write_bytes(b"partial")
    stale_dir.mkdir()
    (stale_dir / "weights.safetensors").write_bytes(b"w")
    for p in (legacy_old, legacy_new):
        p.chmod(0o600)  # what tempfile.mkstemp made
    old = time.time() - LEGACY_STALE_SECONDS - 60
    os.utime(legacy_old, (old, old))
    os.utime(unrelated, (old, old))

    with atomic_path(target) as tmp:
        tmp.write_text("new")

    assert target.read_text() == "new"
    assert not stale.exists() and not stale_dir.exists() and not legacy_old.exists()
    for p in (live, other_host, other_target, unrelated, legacy_new):
        assert p.read_bytes() == b"partial", p.name


def test_stale_temporaries_are_removed_when_a_directory_write_starts(tmp_path):
    dead = _dead_pid()
    stale = tmp_path / f".model.{_host()}-{dead}.0123abcd.tmpdir"
    stale.mkdir()
    live = tmp_path / f".model.{_host()}-{os.getpid()}.0123abce.tmpdir"
    live.mkdir()
    with atomic_dir(tmp_path / "model") as tmp:
        (tmp / "a").write_text("1")
    assert not stale.exists() and live.is_dir()


def test_atomic_group_is_all_or_nothing(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    with pytest.raises(RuntimeError), atomic_group([a, b]) as (ta, tb):
        ta.write_text("a")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    # a rename that fails midway takes back the part already renamed
    b.mkdir()
    (b / "keep").write_text("k")
    with pytest.raises(OSError), atomic_group([a, b]) as (ta, tb):
        ta.write_text("a")
        tb.write_text("b")
    assert not a.exists() and (b / "keep").read_text() == "k"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.txt"]


def test_atomic_path_without_overwrite_keeps_a_file_that_appeared(tmp_path):
    target = tmp_path / "x.csv"
    with (
        pytest.raises(StarlabelInputError, match="appeared"),
        atomic_path(target, overwrite=False) as tmp,
    ):
        tmp.write_text("ours")
        target.write_text("theirs")
    assert target.read_text() == "theirs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.csv"]


def test_check_output(tmp_path):
    (tmp_path / "d.h5").mkdir()
    with pytest.raises(StarlabelInputError, match="is a directory") as e:
        check_output(tmp_path / "d.h5", overwrite=True, suffixes=(".h5",))
    assert str(tmp_path / "d.h5") in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(StarlabelInputError, match=r"must end in \.h5 or \.hdf5"):
        check_output(tmp_path / "x.csv", overwrite=False, suffixes=(".h5", ".hdf5"))
    assert check_output(tmp_path / "X.HDF5", overwrite=False, suffixes=(".h5", ".hdf5"))
    (tmp_path / "old.h5").write_text("")  # not ours: never replaced
    for flag in (False, True):
        with pytest.raises(StarlabelInputError, match="not written by starlabel"):
            check_output(tmp_path / "old.h5", overwrite=flag)
    (tmp_path / "ours.csv").write_text("# written by starlabel 1.0\nid\na\n")
    with pytest.raises(StarlabelInputError, match="pass --overwrite"):
        check_output(tmp_path / "ours.csv", overwrite=False)
    assert check_output(tmp_path / "ours.csv", overwrite=True) == tmp_path / "ours.csv"
    (tmp_path / "file").write_text("")
    with pytest.raises(StarlabelInputError, match="not a directory"):
        check_output(tmp_path / "file" / "x.h5", overwrite=False)
    # a missing folder is fine: it is made when the file is written
    assert check_output(tmp_path / "new" / "sub" / "x.h5", overwrite=False)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_check_output_unwritable_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(StarlabelInputError, match="not writable"):
            check_output(ro / "x.h5", overwrite=False)
    finally:
        ro.chmod(0o700)


def test_check_output_dir(tmp_path):
    assert check_output_dir(tmp_path / "new", overwrite=False) == tmp_path / "new"
    empty = tmp_path / "empty"
    empty.mkdir()
    check_output_dir(empty, overwrite=False)
    (empty / "a.fits").write_text("")
    for flag in (False, True):  # a user's folder: never written into
        with pytest.raises(StarlabelInputError, match="not written by starlabel"):
            check_output_dir(empty, overwrite=flag)
    with pytest.raises(StarlabelInputError, match="not a directory"):
        check_output_dir(empty / "a.fits", overwrite=True)
    ours = tmp_path / "ours"
    ours.mkdir()
    (ours / "metrics.csv").write_text("x\n")
    write_folder_marker(ours, "evaluate")
    with pytest.raises(StarlabelInputError, match="pass --overwrite"):
        check_output_dir(ours, overwrite=False)
    assert check_output_dir(ours, overwrite=True, command="evaluate") == ours
    with pytest.raises(StarlabelInputError, match="`starlabel evaluate`"):
        check_output_dir(ours, overwrite=True, command="map")
    (ours / "sub").mkdir()
    (ours / "sub" / "mine.txt").write_text("mine")
    with pytest.raises(StarlabelInputError, match="sub/mine.txt"):
        check_output_dir(ours, overwrite=True)
