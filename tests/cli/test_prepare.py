"""starlabel prepare (and info and split on what it wrote)."""

import numpy as np
import pytest
from typer.testing import CliRunner

from starlabel._owned import text_marker
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
    assert listing[0] == text_marker()  # recognised as ours (ownership rule)
    assert listing[1] == "source,star,reason" and "broken.fits" in listing[2]


@pytest.mark.parametrize("per_task", [1, 5])
def test_prepare_with_two_dask_workers_writes_the_same_dataset(
    toy_files, tmp_path, monkeypatch, per_task
):
    """Files read and prepared in worker processes, one or several per task: the
    same spectra, in the same order, the same skipped files (one broken file)."""
    pytest.importorskip("distributed")
    import h5py

    import starlabel.spectra.prepare as prepare_module

    monkeypatch.setattr(prepare_module, "files_per_task", lambda n: per_task)

    raw_dir, cat = toy_files
    files = sorted(raw_dir.glob("*_HR*.fits"))
    broken = tmp_path / "broken_HR10.fits"
    broken.write_bytes(b"SIMPLE  =  not a fits file")
    args = [str(f) for f in files[:12]] + [str(broken)]
    common = [
        "--format", "ges", "--labels", str(cat), "--id-column", "CNAME",
        "--map", "TEFF=teff", "--map", "FEH=fe_h", "--rv-column", "VRAD",
        "--grid", "giraffe-hr10-hr21", "-q",
    ]  # fmt: skip
    one, two = tmp_path / "one.h5", tmp_path / "two.h5"
    r1 = runner.invoke(app, ["prepare", *args, *common, "-o", str(one)])
    r2 = runner.invoke(
        app, ["prepare", *args, *common, "--workers", "2", "-o", str(two)]
    )
    assert r1.exit_code == 0 and r2.exit_code == 0, r1.output + r2.output
    a, b = read_dataset(one), read_dataset(two)
    assert a.n_spectra > 0 and a.ids.tolist() == b.ids.tolist()
    np.testing.assert_array_equal(a.flux, b.flux)
    np.testing.assert_array_equal(a.ivar, b.ivar)
    for name in a.labels:
        np.testing.assert_array_equal(a.labels[name], b.labels[name])
    rejected = [
        p.read_text()
        for p in (tmp_path / "one.h5.rejected.csv", tmp_path / "two.h5.rejected.csv")
        if p.exists()
    ]
    assert (
        len(rejected) == 2
        and rejected[0] == rejected[1]
        and "broken_HR10" in rejected[0]
    )
    with h5py.File(one) as f1, h5py.File(two) as f2:
        assert (
            f1["meta/source"].asstr()[:].tolist()
            == f2["meta/source"].asstr()[:].tolist()
        )
