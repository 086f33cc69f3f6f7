"""kill -9 at three points of every multi-file output: the target is absent, the old
complete result or the new complete result; the next run cleans up after the killed
one and needs no --overwrite.

The kill comes from the process itself at a named point
(``STARLABEL_CRASH_AT``, :func:`starlabel._atomic.crash_point`): deterministic,
where a timer would race the tiny window between two renames.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from starlabel._owned import FOLDER_MARKER, is_ours
from starlabel.cli.main import app
from starlabel.spectra import read_dataset
from starlabel.spectra.io.hdf5.split import _unfinished_split, split_outputs

from ..conftest import cli_process
from .small_run import small_run

runner = CliRunner()


def _run(args: list, crash: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "STARLABEL_CRASH_AT"}
    if crash:
        env["STARLABEL_CRASH_AT"] = crash
    return subprocess.run(
        cli_process(*args), env=env, capture_output=True, text=True, timeout=600
    )


def _killed(proc: subprocess.CompletedProcess) -> bool:
    return proc.returncode == -signal.SIGKILL


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, Path]:
    return small_run(tmp_path_factory.mktemp("kill"))


def _complete(folder: Path) -> bool:
    """A folder output with its marker and every file the marker lists."""
    marker = folder / FOLDER_MARKER
    if not marker.is_file():
        return False
    files = json.loads(marker.read_text())["files"]
    return bool(files) and all((folder / name).is_file() for name in files)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file()
    }


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


FOLDERS = {
    "evaluate": lambda f, o: ["evaluate", f["cat"], "--truth", f["data"], "-o", o],
    "explain": lambda f, o: [
        "explain",
        f["model"],
        f["data"],
        "-o",
        o,
        "--n-stars",
        "4",
    ],
    "map": lambda f, o: ["map", f["train"], f["data"], "-o", o],
}
# stage: the staged folder was just made; begin:2: it holds some files (the second
# file's temporary just appeared); staged: complete with its marker, not yet moved.
POINTS = ["stage", "begin:2", "staged"]


@pytest.mark.parametrize("point", POINTS)
@pytest.mark.parametrize("command", sorted(FOLDERS))
def test_a_killed_folder_output_is_absent_and_the_rerun_needs_no_flag(
    env, tmp_path, command, point
):
    out = tmp_path / "out"
    args = [str(a) for a in FOLDERS[command](env, out)]
    killed = _run(args, crash=point)
    assert _killed(killed), killed.stderr
    assert not out.exists()  # never a partial folder
    rerun = _run(args)
    assert rerun.returncode == 0, rerun.stderr
    assert _complete(out) and is_ours(out)
    assert _leftovers(tmp_path) == []  # the killed run's stage was removed


@pytest.mark.parametrize("point", ["stage", "staged", "between"])
@pytest.mark.parametrize("command", sorted(FOLDERS))
def test_a_killed_overwrite_leaves_the_old_or_the_new_complete_result(
    env, tmp_path, command, point
):
    out = tmp_path / "out"
    args = [str(a) for a in FOLDERS[command](env, out)]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    old = _snapshot(out)
    killed = _run([*args, "--overwrite"], crash=point)
    assert _killed(killed), killed.stderr
    assert _complete(out)
    now = _snapshot(out)
    if point == "between":  # the new folder is in place, the old one not yet removed
        assert set(now) == set(old)
    else:
        assert now == old
    again = _run([*args, "--overwrite"])
    assert again.returncode == 0, again.stderr
    assert _complete(out) and _leftovers(tmp_path) == []


# ------------------------------------------------------------------- split
@pytest.mark.parametrize("point", ["begin:2", "commit:1", "between:1"])
def test_a_killed_split_is_finished_by_the_rerun_without_the_flag(env, tmp_path, point):
    prefix = tmp_path / "p"
    args = ["split", env["data"], "-o", prefix]
    killed = _run(args, crash=point)
    assert _killed(killed), killed.stderr
    parts = split_outputs(prefix)
    present = [p for p in parts.values() if p.exists()]
    if point == "between:1":  # the first part was moved in: a known unfinished split
        assert present == [parts["train"]]
        assert _unfinished_split(parts) == {parts["train"]}
    else:
        assert present == []
    rerun = _run(args)
    assert rerun.returncode == 0, rerun.stderr
    sets = [set(read_dataset(p).ids) for p in parts.values()]
    assert sum(map(len, sets)) == 40 and len(set().union(*sets)) == 40
    assert _unfinished_split(parts) == set()
    assert _leftovers(tmp_path) == []
    again = _run(args)  # a complete split is ours and needs the flag
    assert again.returncode == 2 and "--overwrite" in again.stderr


def test_a_split_killed_while_replacing_an_old_one_is_replaced_whole(env, tmp_path):
    prefix = tmp_path / "p"
    args = [str(a) for a in ["split", env["data"], "-o", prefix]]
    assert runner.invoke(app, args).exit_code == 0
    killed = _run([*args, "--seed", "5", "--overwrite"], crash="between:2")
    assert _killed(killed)
    parts = split_outputs(prefix)
    assert _unfinished_split(parts) == set(parts.values())  # two new, one old
    rerun = _run([*args, "--seed", "5"])
    assert rerun.returncode == 0, rerun.stderr
    assert _unfinished_split(parts) == set()
