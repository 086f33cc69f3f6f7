"""A toy fifth model added to the registry (``linear_toy.py``, under 80 lines) gets
fit, predict, save/load, error calibration, the OOD score, the ``predict`` command
and ``tune`` from the family, with nothing written for it outside its module."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from astropy.table import Table
from typer.testing import CliRunner

import starlabel
from starlabel.cli.main import app
from starlabel.models import MODELS
from starlabel.spectra import write_dataset

from .gandalf_toy import toy_spectra
from .linear_toy import LinearConfig, LinearRegressor

runner = CliRunner()


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(MODELS, "linear", LinearRegressor)
    return LinearRegressor


@pytest.fixture(scope="module")
def sets():
    return toy_spectra(200, 0), toy_spectra(80, 1), toy_spectra(40, 2)


def test_the_toy_model_is_under_80_lines():
    from . import linear_toy

    assert len(inspect.getsource(linear_toy).splitlines()) < 80


def test_fit_predict_calibrate_and_ood_come_from_the_family(registered, sets):
    train, valid, test = sets
    est = LinearRegressor(labels=["logg", "fe_h"], device="cpu").fit(train, valid)
    assert len(est.members_) == 2 and sorted(est.member_seeds_) == [0, 1]
    assert est.member_losses_ == sorted(est.member_losses_)  # best first
    pred = est.predict(test)
    truth = test.label_array(["logg", "fe_h"])
    # an independent least-squares fit of the same linear problem bounds the scatter
    x = np.column_stack([train.flux, np.ones(train.n_spectra)])
    coef, *_ = np.linalg.lstsq(x, train.label_array(["logg", "fe_h"]), rcond=None)
    lsq = np.column_stack([test.flux, np.ones(test.n_spectra)]) @ coef
    assert (
        np.std(pred.mean - truth, axis=0).max()
        < 1.5 * np.std(lsq - truth, axis=0).max()
    )
    assert set(est.calibration_["default"]) == {"logg", "fe_h"}
    assert np.isfinite(pred.calibrated).all() and (pred.calibrated > 0).all()
    assert np.isfinite(pred.ood_score).all()
    assert est.summary()["validation loss"].endswith("(standardised MSE per label)")


def test_save_load_and_the_predict_command(registered, sets, tmp_path):
    train, valid, test = sets
    est = LinearRegressor(labels=["logg", "fe_h"], device="cpu").fit(train, valid)
    back = starlabel.load(est.save(tmp_path / "linear"))
    assert isinstance(back, LinearRegressor)
    np.testing.assert_allclose(
        back.predict(test).mean, est.predict(test).mean, rtol=1e-6
    )
    write_dataset(test, tmp_path / "test.h5")
    done = runner.invoke(
        app,
        [
            "predict",
            str(tmp_path / "linear"),
            str(tmp_path / "test.h5"),
            "-o",
            str(tmp_path / "cat.csv"),
        ],
    )
    assert done.exit_code == 0, done.output
    cat = Table.read(tmp_path / "cat.csv", comment="#")
    np.testing.assert_allclose(cat["logg"], est.predict(test).mean[:, 0], rtol=1e-5)
    assert {"logg_err", "fe_h_err", "ood_score", "chi2_labels"} <= set(cat.colnames)


def test_calibration_covers_low_snr_and_the_spectrum_check_comes_with_it(
    registered, sets, tmp_path
):
    """Every model of the family: the calibration's S/N range reaches down to 5
    (the validation stars are at S/N 100) and a star below it is flagged; the
    spectrum check gives chi2_labels ~1 on training-like stars, more on a
    spectrum with a line the training set lacks, and survives save and load."""
    from starlabel.spectra import Flag

    train, valid, test = sets
    est = LinearRegressor(labels=["logg", "fe_h"], device="cpu").fit(train, valid)
    for cal in est.calibration_["default"].values():
        assert cal.snr_range[0] < 6.0 < 90.0 < cal.snr_range[1]
        assert "degraded" in cal.source
    faint = test.replace(ivar=test.ivar / 100.0**2 * 3.0**2)  # S/N 3
    pred = est.predict(faint)
    assert (pred.flags & int(Flag.SNR_BELOW_CALIBRATION)).all()
    flags = est.predict(test).flags  # None: no flag set on any star
    assert flags is None or not (flags & int(Flag.SNR_BELOW_CALIBRATION)).any()
    chi2 = est.predict(test).columns["chi2_labels"]
    assert 0.7 < np.median(chi2) < 1.5
    bumped = test.flux.copy()
    bumped[:, 20:24] -= 0.1  # a line no training spectrum has, 10 sigma deep
    odd = est.predict(test.replace(flux=bumped))
    assert np.median(odd.columns["chi2_labels"]) > 5 * np.median(chi2)
    assert np.median(odd.ood_score) > 1.0
    back = starlabel.load(est.save(tmp_path / "linear"))
    np.testing.assert_allclose(
        back.predict(test).columns["chi2_labels"], chi2, rtol=1e-4
    )
    write_dataset(faint, tmp_path / "faint.h5")  # predict says how many, and why
    done = runner.invoke(
        app,
        ["predict", str(tmp_path / "linear"), str(tmp_path / "faint.h5")]
        + ["-o", str(tmp_path / "faint.csv")],
    )
    assert done.exit_code == 0, done.output
    said = " ".join(done.output.split())
    assert f"{faint.n_spectra} rows have an S/N below" in said
    assert f"flag {int(Flag.SNR_BELOW_CALIBRATION)}" in said


def test_tune_searches_its_declared_space(registered, sets, tmp_path):
    pytest.importorskip("optuna")
    from starlabel.tuning import tune

    train, valid, _ = sets
    result = tune(
        train,
        valid,
        tmp_path / "tune",
        model="linear",
        labels=["logg", "fe_h"],
        trials=2,
        device="cpu",
        max_epochs=3,
    )
    assert result.n_complete + result.n_pruned == 2
    assert set(result.best_params) == {"train.lr"}
    assert (tmp_path / "tune" / "best.toml").exists()
    assert LinearConfig().train.max_epochs == 40  # the base was not changed in place
