"""starlabel prepare (and info and split on what it wrote)."""

import numpy as np
import pytest
from typer.testing import CliRunner

from starlabel.cli.main import app
from starlabel.spectra import read_dataset

from ..toy_survey import write_toy_survey

runner = CliRunner()


@pytest.fixture(scope="module")
def toy_files(tmp_path_factory):
    out = tmp_path_factory.mktemp("toy")
    files, cat = write_toy_survey(out, n_stars=10, seed=1)
    return out, cat


def test_prepare_info_split(toy_files, tmp_path):
    raw_dir, cat = toy_files
    data = tmp_path / "d.h5"
    result = runner.invoke(
        app,
        [
            "prepare",
            str(raw_dir / "*_HR*.fits"),
            "--format",
            "ges",
            "--labels",
            str(cat),
            "--id-column",
            "CNAME",
            "--map",
            "TEFF=teff",
            "--map",
            "LOGG=logg",
            "--map",
            "FEH=fe_h",
            "--map",
            "E_TEFF=teff_err",
            "--rv-column",
            "VRAD",
            "--grid",
            "giraffe-hr10-hr21",
            "--min-snr",
            "30",
            "-o",
            str(data),
        ],
    )
    assert result.exit_code == 0, result.output
    sp = read_dataset(data)
    assert sp.n_pixels == 8669 and sp.rest_frame and np.all(sp.meta["snr"] >= 30)

    result = runner.invoke(app, ["info", str(data)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert f"{sp.n_spectra} spectra x 8669 pixels" in text
    assert (
        "5350.00-5600.02 Angstrom" in text
        and "teff" in text
        and "S/N per pixel quartiles" in text
    )

    result = runner.invoke(
        app,
        [
            "split",
            str(data),
            "--fractions",
            "0.6",
            "0.2",
            "0.2",
            "--seed",
            "0",
            "-o",
            str(tmp_path / "part"),
        ],
    )
    assert result.exit_code == 0, result.output
    sizes = [
        len(read_dataset(tmp_path / f"part-{n}.h5")) for n in ("train", "valid", "test")
    ]
    assert sum(sizes) == sp.n_spectra


def test_bad_input_exits_2_with_one_line(tmp_path):
    empty = tmp_path / "empty.h5"
    empty.write_bytes(b"")
    result = runner.invoke(app, ["info", str(empty)])
    assert result.exit_code == 2
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "empty.h5" in lines[0]

    result = runner.invoke(
        app, ["prepare", str(tmp_path / "none*.fits"), "-o", str(tmp_path / "o.h5")]
    )
    assert result.exit_code == 2 and "pattern matches no file" in result.output

    result = runner.invoke(
        app, ["prepare", str(empty), "--format", "ges", "-o", str(tmp_path / "o.h5")]
    )
    assert result.exit_code == 2 and "no readable spectrum" in result.output
    assert not (tmp_path / "o.h5").exists()


def test_rejected_spectra_are_listed_beside_the_output(toy_files, tmp_path):
    raw_dir, cat = toy_files
    broken = tmp_path / "broken.fits"
    broken.write_bytes(b"SIMPLE  = T" + b" " * 100)
    out = tmp_path / "d.h5"
    result = runner.invoke(
        app,
        [
            "prepare",
            str(raw_dir / "toy00000_HR10.fits"),
            str(broken),
            "--format",
            "ges",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    listing = (tmp_path / "d.h5.rejected.csv").read_text().splitlines()
    assert listing[0] == "source,star,reason" and "broken.fits" in listing[1]
