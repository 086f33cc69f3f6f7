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

    import starlabel.spectra.prepare.run as run_module

    monkeypatch.setattr(run_module, "files_per_task", lambda n: per_task)

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


def test_real_apstar_files_are_normalised_by_default_and_say_so(shared_data, tmp_path):
    files = sorted(str(p) for p in (shared_data / "apogee").glob("apStar-*.fits"))
    out = tmp_path / "a.h5"
    result = runner.invoke(
        app, ["prepare", *files, "--format", "apogee-apstar", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "normalised the continuum of 2 apogee-apstar spectra (percentile)" in text
    sp = read_dataset(out)
    assert sp.n_spectra == 2
    for i in range(2):
        good = sp.ivar[i] > 0
        assert 0.8 < np.median(sp.flux[i][good]) < 1.05
    # asked not to normalise, the same files are refused as before
    result = runner.invoke(
        app,
        ["prepare", *files, "--format", "apogee-apstar", "--normalise", "none",
         "-o", str(tmp_path / "b.h5")],
    )  # fmt: skip
    assert result.exit_code == 2 and "not continuum-normalised" in result.output


def test_info_says_snr_is_undefined_for_fully_masked_spectra(tmp_path):
    import h5py

    from starlabel.spectra import write_dataset

    from ..conftest import gaussian_line_spectra

    sp = gaussian_line_spectra(n=8, n_pixels=64)  # meta snr 100 for every star
    for name, rows in (("all.h5", slice(None)), ("some.h5", slice(0, 3))):
        write_dataset(sp, tmp_path / name)
        with h5py.File(tmp_path / name, "a") as h5:
            ivar = h5["ivar"][...]
            ivar[rows] = 0
            h5["ivar"][...] = ivar
    result = runner.invoke(app, ["info", str(tmp_path / "all.h5")])
    text = " ".join(result.output.split())
    assert result.exit_code == 0 and "S/N undefined: every pixel" in text
    assert "quartiles" not in text and "masked pixels 100.00 %" in text
    result = runner.invoke(app, ["info", str(tmp_path / "some.h5")])
    text = " ".join(result.output.split())
    assert result.exit_code == 0
    assert "quartiles: 100.0 / 100.0 / 100.0 (3 spectra fully masked" in text


@pytest.mark.parametrize("point", ["begin:1", "commit:1", "between"])
def test_a_rerun_after_a_kill_proceeds_without_overwrite(toy_files, tmp_path, point):
    """Killed while putting the rejected list and the dataset in place: no dataset
    (at most a list of ours), and the rerun proceeds without --overwrite."""
    import os
    import subprocess

    from ..conftest import cli_process

    raw_dir, _ = toy_files
    broken = tmp_path / "broken.fits"
    broken.write_bytes(b"")
    out = tmp_path / "d.h5"
    args = ["prepare", raw_dir / "toy00000_HR10.fits", broken, "--format", "ges",
            "-q", "-o", out]  # fmt: skip
    env = dict(os.environ, STARLABEL_CRASH_AT=point)
    proc = subprocess.run(cli_process(*args), env=env, capture_output=True, timeout=120)
    assert proc.returncode == -9, proc.stderr.decode()
    assert not out.exists()
    listing = tmp_path / "d.h5.rejected.csv"
    assert listing.exists() == (point == "between")
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    assert read_dataset(out).ids.tolist() == ["toy00000"]
    assert (
        listing.read_text().startswith(text_marker())
        and "broken" in listing.read_text()
    )
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
