"""The ownership rule: --overwrite replaces starlabel's own outputs and nothing else.

For every command that writes, a user's file of each kind (a text file, a real
HDF5, FITS, Parquet or PNG file that starlabel did not write, a folder with the
user's files) is put at the output path; the command must refuse it with and
without --overwrite (exit 2, one line saying it is not starlabel's) and leave it
byte for byte. Our own outputs are refused without the flag and replaced with it.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from astropy.table import Table
from typer.testing import CliRunner

from starlabel._owned import FOLDER_MARKER, is_ours
from starlabel.cli.main import app

from .small_run import small_run

runner = CliRunner()
NOT_OURS = "not written by starlabel"


# ------------------------------------------------------------ user's files
def _text(path: Path) -> None:
    path.write_text("my notes, not a starlabel file\n")


def _hdf5(path: Path) -> None:
    with h5py.File(path, "w") as h5:
        h5["x"] = np.arange(5)
        h5.attrs["format"] = "my-lab-format"


def _fits(path: Path) -> None:
    Table({"id": ["a"], "teff": [5000.0]}).write(path, format="fits")


def _parquet(path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": ["a"], "teff": [5000.0]}), path)


def _csv(path: Path) -> None:
    path.write_text("id,teff\na,5000\n")


def _png(path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1, 1))
    ax.plot([0, 1])
    fig.savefig(path, format="png")  # Software: Matplotlib ...
    plt.close(fig)


def _html(path: Path) -> None:
    path.write_text("<html><head><meta name='generator' content='me'></head></html>")


def _folder(path: Path, name: str = "metrics.csv") -> None:
    path.mkdir()
    (path / name).write_text("mine\n")


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, Path]:
    return small_run(tmp_path_factory.mktemp("own"))


def _d(f):
    return f["data"]


# (case id, maker of the user's file, its name, argv before -o, the -o value if
# not that name: relative to the test's folder)
CASES = [
    ("synth h5 text", _text, "u.h5", lambda f: ["synth", "--n", "3"], []),
    ("synth h5 hdf5", _hdf5, "u.h5", lambda f: ["synth", "--n", "3"], []),
    ("prepare h5", _hdf5, "u.h5", lambda f: ["prepare", _d(f)], []),
    (
        "synth plot png",
        _png,
        "u.png",
        lambda f: ["synth", "--setup", "giraffe-hr10"],
        ["--plot", "u.png"],
    ),
    (
        "synth raw folder",
        _folder,
        "u",
        lambda f: ["synth", "--n", "2", "--setup", "giraffe-hr10"],
        ["--raw", "u", "-o", "s.h5"],
    ),
    ("split part", _text, "u-valid.h5", lambda f: ["split", _d(f)], ["-o", "u"]),
    ("predict csv", _csv, "u.csv", lambda f: ["predict", f["model"], _d(f)], []),
    ("predict fits", _fits, "u.fits", lambda f: ["predict", f["model"], _d(f)], []),
    (
        "predict parquet",
        _parquet,
        "u.parquet",
        lambda f: ["predict", f["model"], _d(f)],
        [],
    ),
    ("predict folder", _folder, "u", lambda f: ["predict", f["model"], _d(f)], []),
    (
        "evaluate folder",
        _folder,
        "u",
        lambda f: ["evaluate", f["cat"], "--truth", _d(f)],
        [],
    ),
    (
        "explain folder",
        _folder,
        "u",
        lambda f: ["explain", f["model"], _d(f), "--n-stars", "3"],
        [],
    ),
    ("map folder", _folder, "u", lambda f: ["map", f["train"], _d(f)], []),
    (
        "report html",
        _html,
        "u.html",
        lambda f: ["report", f["cat"], "--truth", _d(f)],
        [],
    ),
    (
        "report html text",
        _text,
        "u.html",
        lambda f: ["report", f["cat"], "--truth", _d(f)],
        [],
    ),
    (
        "edit png",
        _png,
        "u.png",
        lambda f: ["edit", f["model"], _d(f), "--id", "g0-1", "--set", "logg=3"],
        [],
    ),
    (
        "calibrate folder",
        _folder,
        "u",
        lambda f: ["calibrate", f["model"], _d(f)],
        [],
    ),
    ("train folder", _folder, "u", lambda f: ["train", _d(f)], []),
    ("tune folder", _folder, "u", lambda f: ["tune", _d(f), "--trials", "1"], []),
]


def _snapshot(path: Path) -> dict[str, bytes]:
    if path.is_dir():
        return {
            str(p.relative_to(path)): p.read_bytes()
            for p in path.rglob("*")
            if p.is_file()
        }
    return {"": path.read_bytes()}


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("flag", [[], ["--overwrite"]], ids=["plain", "overwrite"])
def test_a_users_file_survives_every_command(env, tmp_path, case, flag):
    _, make, name, argv, out = case
    target = tmp_path / name
    make(target)
    before = _snapshot(target)
    assert not is_ours(target)
    if out:  # the option's name, the value in the test's folder, then the rest
        out = [out[0], tmp_path / out[1], *out[2:]]
        if "-o" in out:
            out[out.index("-o") + 1] = tmp_path / out[out.index("-o") + 1]
    else:
        out = ["-o", target]
    args = [str(a) for a in [*argv(env), *out, *flag]]
    result = runner.invoke(app, args)
    lines = [ln for ln in result.output.strip().splitlines() if ln.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    assert str(target) in lines[0]
    assert "--overwrite" not in lines[0] or "--overwrite or not" in lines[0]
    assert _snapshot(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # nothing beside


def test_the_refusal_says_why_and_never_suggests_the_flag(env, tmp_path):
    target = tmp_path / "mine.h5"
    _text(target)
    result = runner.invoke(app, ["synth", "--n", "3", "-o", str(target)])
    assert NOT_OURS in result.output and "--overwrite or not" in result.output


# ------------------------------------------------------------- our outputs
OWN = [
    ("synth", lambda f, o: ["synth", "--n", "3", "-o", o], "x.h5"),
    ("predict csv", lambda f, o: ["predict", f["model"], _d(f), "-o", o], "c.csv"),
    ("predict fits", lambda f, o: ["predict", f["model"], _d(f), "-o", o], "c.fits"),
    (
        "predict parquet",
        lambda f, o: ["predict", f["model"], _d(f), "-o", o],
        "c.parquet",
    ),
    (
        "evaluate",
        lambda f, o: ["evaluate", f["cat"], "--truth", _d(f), "-o", o],
        "ev",
    ),
    ("map", lambda f, o: ["map", f["train"], _d(f), "-o", o], "map"),
    ("report", lambda f, o: ["report", f["cat"], "--truth", _d(f), "-o", o], "r.html"),
]


@pytest.mark.parametrize("case", OWN, ids=[c[0] for c in OWN])
def test_our_output_is_replaced_only_with_the_flag(env, tmp_path, case):
    _, argv, name = case
    target = tmp_path / name
    args = [str(a) for a in argv(env, target)]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert is_ours(target)
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "pass --overwrite" in again.output, again.output
    if name.startswith("c.") and "predict" in args:
        # an unchanged catalogue is up to date: change the run to force a refusal
        pass
    replaced = runner.invoke(app, [*args, "--overwrite"])
    assert replaced.exit_code == 0, replaced.output
    assert is_ours(target)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_an_output_folder_with_a_users_file_added_is_not_replaced(env, tmp_path):
    out = tmp_path / "ev"
    args = ["evaluate", str(env["cat"]), "--truth", str(env["data"]), "-o", str(out)]
    assert runner.invoke(app, args).exit_code == 0
    assert (out / FOLDER_MARKER).is_file()
    (out / "my-notes.txt").write_text("mine")
    result = runner.invoke(app, [*args, "--overwrite"])
    assert result.exit_code == 2 and "my-notes.txt" in result.output
    assert (out / "my-notes.txt").read_text() == "mine"


def test_one_commands_folder_is_not_replaced_by_another(env, tmp_path):
    out = tmp_path / "ev"
    ev = ["evaluate", str(env["cat"]), "--truth", str(env["data"]), "-o", str(out)]
    assert runner.invoke(app, ev).exit_code == 0
    before = _snapshot(out)
    result = runner.invoke(
        app, ["map", str(env["train"]), str(env["data"]), "-o", str(out), "--overwrite"]
    )
    assert result.exit_code == 2 and "starlabel evaluate" in result.output
    assert _snapshot(out) == before


def test_a_model_directory_is_never_an_evaluation_folder(env, tmp_path):
    before = _snapshot(env["model"])
    result = runner.invoke(
        app,
        [
            "evaluate",
            str(env["cat"]),
            "--truth",
            str(env["data"]),
            "-o",
            str(env["model"]),
            "--overwrite",
        ],
    )
    assert result.exit_code == 2 and "another kind of starlabel result" in result.output
    assert _snapshot(env["model"]) == before


def test_markers_are_recognised_by_content_not_name(env, tmp_path):
    # a CSV catalogue of ours carries its metadata in comment lines
    text = env["cat"].read_text()
    assert text.startswith("# written by starlabel")
    assert "# SLINFP = " in text
    renamed = tmp_path / "renamed.txt"
    renamed.write_bytes(env["cat"].read_bytes())
    assert is_ours(renamed)
    assert not is_ours(tmp_path / "absent.h5")
    link = tmp_path / "link.csv"
    link.symlink_to(env["cat"])
    assert not is_ours(link)  # a link is never replaced (it would write through)
