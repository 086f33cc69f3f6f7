"""Bad input to ``prepare`` and to the dataset checks every command shares: exit
code 2, one line naming the file (and the star), no traceback, nothing the user had
changed, nothing partial left (the harness of test_bad_input.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from starlabel.cli.main import app
from starlabel.spectra import write_dataset
from starlabel.spectra.io.eso import write_eso_spectrum

from ..conftest import gaussian_line_spectra
from .test_bad_input import _tree

runner = CliRunner()
HR10 = np.arange(5339.0, 5619.0, 0.05)


def _line(wl: np.ndarray, centre: float, depth: float) -> np.ndarray:
    return 1 - depth * np.exp(-0.5 * ((wl - centre) / 0.2) ** 2)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("badprep")
    f = {"root": root}
    # two different stars that share an id, both observed in HR10
    f["a"], f["b"] = root / "a.fits", root / "b.fits"
    ivar = np.full(HR10.size, 1e4)
    write_eso_spectrum(
        f["a"], HR10, _line(HR10, 5400, 0.5), ivar, star="X", setup="HR10"
    )
    write_eso_spectrum(
        f["b"], HR10, _line(HR10, 5500, 0.5), ivar, star="X", setup="HR10"
    )
    f["c"] = root / "c.fits"
    write_eso_spectrum(
        f["c"], HR10, _line(HR10, 5450, 0.3), ivar, star="Y", setup="HR10"
    )
    # a dataset whose wavelengths are in nm but labelled Angstrom
    f["nm"] = root / "nm.h5"
    sp = gaussian_line_spectra(n=12, n_pixels=64)
    write_dataset(sp, f["nm"])
    with h5py.File(f["nm"], "a") as h5:
        h5["wavelength"][...] = np.linspace(535.0, 560.0, 64)  # 5350-5600 A in nm
        h5.attrs["setup"] = "giraffe-hr10"
    f["nm_nosetup"] = root / "nm_nosetup.h5"
    write_dataset(sp, f["nm_nosetup"])
    with h5py.File(f["nm_nosetup"], "a") as h5:
        h5["wavelength"][...] = np.linspace(500.0, 502.55, 64)
    # a user's file where prepare would list its skipped spectra / write pairs
    f["user_rejected"] = root / "u.h5.rejected.csv"
    f["user_rejected"].write_text("my notes\n")
    f["user_pairs"] = root / "mine.csv"
    f["user_pairs"].write_text("id1,id2\nq,r\n")
    return f


# (name, argv builder, texts the one-line error must contain, path that must not exist)
CASES = [
    (
        "two stars share an id within one setup",
        lambda f: ["prepare", f["a"], f["b"], f["c"], "--format", "ges", "-o", f["root"] / "d1.h5"],
        ["star X", "a.fits", "b.fits", "--repeats"],
        "d1.h5",
    ),
    (
        "one file twice",
        lambda f: ["prepare", f["c"], f["c"], "--format", "ges", "-o", f["root"] / "d2.h5"],
        ["star Y", "--repeats"],
        "d2.h5",
    ),
    (
        "--pairs-out without --repeats",
        lambda f: [
            "prepare", f["a"], "--format", "ges", "--pairs-out", f["root"] / "p.csv",
            "-o", f["root"] / "d3.h5",
        ],
        ["--pairs-out", "--repeats"],
        "d3.h5",
    ),
    (
        "a user's file at the rejected list",
        lambda f: ["prepare", f["a"], f["c"], "--format", "ges", "-o", f["root"] / "u.h5"],
        ["u.h5.rejected.csv", "not written by starlabel"],
        "u.h5",
    ),
    (
        "a user's file at --pairs-out, with --overwrite",
        lambda f: [
            "prepare", f["a"], f["b"], "--format", "ges", "--repeats", "--pairs-out",
            f["user_pairs"], "--overwrite", "-o", f["root"] / "d4.h5",
        ],
        ["mine.csv", "not written by starlabel"],
        "d4.h5",
    ),
    (
        "--pairs-out that is not a CSV",
        lambda f: [
            "prepare", f["a"], f["b"], "--format", "ges", "--repeats", "--pairs-out",
            f["root"] / "p.txt", "-o", f["root"] / "d5.h5",
        ],
        ["p.txt", ".csv"],
        "d5.h5",
    ),
    (
        "info on nm labelled Angstrom",
        lambda f: ["info", f["nm"]],
        ["nm.h5", "look like nm, not Angstrom", "giraffe-hr10"],
        None,
    ),
    (
        "split of nm labelled Angstrom",
        lambda f: ["split", f["nm"], "-o", f["root"] / "nmsplit"],
        ["nm.h5", "look like nm"],
        "nmsplit-train.h5",
    ),
    (
        "info on nm labelled Angstrom, no setup",
        lambda f: ["info", f["nm_nosetup"]],
        ["nm_nosetup.h5", "look like nm", "below 900"],
        None,
    ),
]  # fmt: skip


def _check(result, root: Path, before: dict, needles: list[str], absent) -> None:
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert "Traceback" not in result.output
    assert _tree(root) == before  # nothing deleted, changed or half-written
    if absent is not None:
        assert not (root / absent).exists()
    assert not [p for p in root.rglob(".*")]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_leaves_everything(files, case):
    _, argv, needles, absent = case
    root = files["root"]
    before = _tree(root)
    result = runner.invoke(app, [str(a) for a in argv(files)])
    _check(result, root, before, needles, absent)


def test_apstar_read_as_ges_says_the_file_is_apstar(shared_data, tmp_path):
    """Not "the range does not overlap" itself: the file is of another format."""
    src = shared_data / "apogee" / "apStar-dr17-2M19485057+5005279.fits"
    shutil.copy(src, tmp_path / "star.fits")
    before = _tree(tmp_path)
    result = runner.invoke(
        app,
        ["prepare", str(tmp_path / "star.fits"), "--format", "ges", "-o", str(tmp_path / "g.h5")],
    )  # fmt: skip
    _check(
        result,
        tmp_path,
        before,
        ["star.fits", "is a file of format apogee-apstar, not ges"],
        "g.h5",
    )
    assert "does not overlap" not in result.output
