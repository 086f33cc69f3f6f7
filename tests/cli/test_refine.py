"""starlabel train --model emulator, refine and predict --refine from the command
line: the catalogue has the fit columns, the start values and the input order;
bad input is one line with exit code 2 and nothing written."""

import numpy as np
from typer.testing import CliRunner

from starlabel.cli.main import app
from starlabel.inference import read_catalogue_table
from starlabel.spectra import write_dataset

from ..models.gandalf_toy import toy_spectra

runner = CliRunner()


def test_train_refine_and_predict_refine(tmp_path):
    write_dataset(toy_spectra(300, 0), tmp_path / "train.h5")
    write_dataset(toy_spectra(40, 1), tmp_path / "d.h5")
    common = ["--max-epochs", "30", "-q", "--seed", "1"]
    r = runner.invoke(
        app,
        [
            "train",
            str(tmp_path / "train.h5"),
            "--model",
            "emulator",
            "--preset",
            "fast",
            "-o",
            str(tmp_path / "emu"),
            *common,
        ],
    )
    assert r.exit_code == 0, r.output
    assert "emulator error" in r.output
    r = runner.invoke(
        app,
        [
            "train",
            str(tmp_path / "train.h5"),
            "--model",
            "gandalf",
            "--preset",
            "fast",
            "--latent",
            "3",
            "-o",
            str(tmp_path / "reg"),
            *common[2:],
            "--max-epochs",
            "5",
        ],
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        app,
        [
            "predict",
            str(tmp_path / "reg"),
            str(tmp_path / "d.h5"),
            "-o",
            str(tmp_path / "reg.csv"),
            "-q",
        ],
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        app,
        [
            "refine",
            str(tmp_path / "emu"),
            str(tmp_path / "d.h5"),
            "--start",
            str(tmp_path / "reg.csv"),
            "-o",
            str(tmp_path / "ref.fits"),
            "--show",
            "g1-3",
            "-q",
        ],
    )
    assert r.exit_code == 0, r.output
    assert (tmp_path / "ref-fits.png").stat().st_size > 1000
    ref = read_catalogue_table(tmp_path / "ref.fits")
    reg = read_catalogue_table(tmp_path / "reg.csv")
    assert list(ref["id"]) == list(reg["id"])
    np.testing.assert_allclose(
        np.asarray(ref["logg_start"]), np.asarray(reg["logg"]), rtol=1e-6
    )
    for col in ("chi2", "fit_iter", "fit_converged", "logg_err_raw", "ood_score"):
        assert col in ref.colnames
    # the start catalogue has errors: the two models' consistency comes with it
    assert np.isfinite(np.asarray(ref["models_chi2"])).all()
    bad = (np.asarray(ref["flag"]) & 16384) > 0
    assert bad.mean() < 0.5
    # one step: predict with the CNN and refine with the emulator
    r = runner.invoke(
        app,
        [
            "predict",
            str(tmp_path / "reg"),
            str(tmp_path / "d.h5"),
            "--refine",
            str(tmp_path / "emu"),
            "-o",
            str(tmp_path / "one.csv"),
            "-q",
        ],
    )
    assert r.exit_code == 0, r.output
    one = read_catalogue_table(tmp_path / "one.csv")
    np.testing.assert_allclose(  # the start model's errors, given by the model
        np.asarray(one["models_chi2"]), np.asarray(ref["models_chi2"]), rtol=1e-3
    )
    np.testing.assert_allclose(
        np.asarray(one["logg"]), np.asarray(ref["logg"]), rtol=1e-4, atol=1e-5
    )
    # bad input: a regressor given as the emulator, an unknown --show id
    r = runner.invoke(
        app,
        [
            "refine",
            str(tmp_path / "reg"),
            str(tmp_path / "d.h5"),
            "-o",
            str(tmp_path / "x.fits"),
        ],
    )
    assert r.exit_code == 2 and "refine needs an emulator" in r.output
    r = runner.invoke(
        app,
        [
            "refine",
            str(tmp_path / "emu"),
            str(tmp_path / "d.h5"),
            "--show",
            "nobody",
            "-o",
            str(tmp_path / "x.fits"),
        ],
    )
    assert r.exit_code == 2 and "nobody is not a star" in r.output
    assert not (tmp_path / "x.fits").exists()
