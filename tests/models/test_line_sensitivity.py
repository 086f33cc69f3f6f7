"""Own-element sensitivity (issue 28, point 4): the bound of an abundance's own
lines, checked against the analytic derivative of a constructed line, and the
OWN_LINES_WEAK flag with its error rule."""

from types import SimpleNamespace

import astropy.units as u
import numpy as np
import pytest

from starlabel.models.base import LabelPrediction
from starlabel.models.line_sensitivity import (
    LineSensitivity,
    fit_line_sensitivity,
    predictable_abundances,
)
from starlabel.models.reliability import weak_lines_flags
from starlabel.spectra import Flag, Spectra

WL = np.arange(5500.0, 5560.0, 0.05)  # holds Mg I 5528.4
LINE = np.exp(-0.5 * ((WL - 5528.405) / 0.05) ** 2)  # inside the Mg window
NAMES = ["teff", "logg", "mg_fe"]
IVAR = 1e4


def _depth_slope(teff):
    """d depth / d [Mg/Fe]: strong in cool stars, none at 6000 K."""
    return 2.0 * (6000.0 - teff) / 1500.0


def _flux(labels):
    teff, logg, mg = labels.T
    depth = 0.3 + 0.02 * logg + _depth_slope(teff) * mg  # quadratic in the labels
    return 1.0 - depth[:, None] * LINE


def _training(n=300, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.column_stack(
        [
            rng.uniform(4500, 6000, n),
            rng.uniform(1.0, 4.5, n),
            rng.uniform(-0.1, 0.4, n),
        ]
    )
    ivar = np.full((n, WL.size), IVAR)
    ivar[rng.random((n, WL.size)) < 0.01] = 0.0  # scattered masked pixels
    return labels, _flux(labels), ivar


def test_the_own_line_bound_equals_the_analytic_cramer_rao_bound():
    labels, flux, ivar = _training()
    sens = fit_line_sensitivity(WL, flux, ivar, labels, NAMES)
    assert list(sens.spans) == ["mg_fe"]  # Teff and log g have no element
    test = np.array([[4600.0, 2.0, 0.1], [5500.0, 4.0, 0.3], [5900.0, 3.0, 0.0]])
    test_ivar = np.full((3, WL.size), IVAR)
    test_ivar[1, np.abs(WL - 5528.4) < 0.06] = 0.0  # star 1: the line core masked
    bound = sens.own_bound(test, test_ivar)["mg_fe"]
    slope = _depth_slope(test[:, 0])[:, None] * LINE  # |d flux / d [Mg/Fe]|
    expected = 1.0 / np.sqrt(np.sum(slope**2 * test_ivar, axis=1))
    np.testing.assert_allclose(bound, expected, rtol=1e-3)
    # through the model directory's form and back
    entry, arrays = sens.to_manifest()
    again = LineSensitivity.from_manifest(entry, arrays)
    np.testing.assert_allclose(
        again.own_bound(test, test_ivar)["mg_fe"], bound, rtol=1e-4
    )


def test_no_sensitivity_without_lines_or_without_enough_stars():
    labels, flux, ivar = _training()
    apogee = np.linspace(15200, 16900, WL.size)  # no line of the list there
    assert fit_line_sensitivity(apogee, flux, ivar, labels, NAMES) is None
    assert fit_line_sensitivity(WL, flux[:20], ivar[:20], labels[:20], NAMES) is None


def test_a_star_whose_own_lines_are_too_weak_is_flagged_and_its_error_is_the_prior():
    """Star 0 (4600 K): the Mg line measures [Mg/Fe] far better than the prior;
    star 1 (5995 K): the line no longer depends on [Mg/Fe], so the value is the
    prior's: OWN_LINES_WEAK and the prior's spread as _err. A claimed error below
    what the own lines and the prior allow is raised to that floor."""
    labels, flux, ivar = _training()
    sens = fit_line_sensitivity(WL, flux, ivar, labels, NAMES)
    spread = float(np.std(labels[:, 2]))
    model = SimpleNamespace(
        line_sensitivity_=sens, label_std_={"mg_fe": spread}, label_range_={}
    )
    mean = np.array([[4600.0, 2.0, 0.1], [5995.0, 3.0, 0.1], [np.nan] * 3])
    sp = Spectra(
        np.ones((3, WL.size)), WL * u.AA, np.full((3, WL.size), IVAR), labels={}
    )
    small = np.full((3, 3), 1e-4)  # a model claiming 1e-4 dex
    pred = LabelPrediction(tuple(NAMES), mean, small, np.full((3, 3), np.nan))
    calibrated = small.copy()
    flags = weak_lines_flags(model, pred, sp, calibrated, None)
    assert [int(f) & Flag.OWN_LINES_WEAK for f in flags] == [0, Flag.OWN_LINES_WEAK, 0]
    bound = sens.own_bound(mean, sp.ivar)["mg_fe"]
    assert bound[0] < 0.1 * spread < spread < bound[1]
    assert calibrated[0, 2] == pytest.approx((bound[0] ** -2 + spread**-2) ** -0.5)
    assert calibrated[1, 2] == pytest.approx(spread)
    assert calibrated[2, 2] == 1e-4  # a dead star is left alone
    np.testing.assert_array_equal(calibrated[:, :2], small[:, :2])  # Teff, log g


def test_predictable_abundances_is_the_r2_on_the_other_labels():
    rng = np.random.default_rng(1)
    n = 500
    fe_h = rng.uniform(-1, 0.3, n)
    mg = -0.3 * fe_h + rng.normal(0, 0.05, n)  # tied to [Fe/H]
    al = rng.uniform(-0.2, 0.4, n)  # free
    labels = np.column_stack([fe_h, mg, al])
    shares = predictable_abundances(labels, ["fe_h", "mg_fe", "al_fe"])
    assert list(shares) == ["mg_fe", "al_fe"]  # [Fe/H] has no element of its own
    # one regressor that matters: R^2 = r^2 (the free [Al/Fe] adds ~nothing)
    r = np.corrcoef(fe_h, mg)[0, 1]
    assert shares["mg_fe"] == pytest.approx(r**2, abs=0.01) and shares["mg_fe"] > 0.8
    assert shares["al_fe"] < 0.02


def test_training_on_correlated_abundances_warns_and_on_decorrelated_not():
    from starlabel.models import CNNConfig, DeepEnsembleRegressor, EnsembleConfig
    from starlabel.training import TrainConfig

    rng = np.random.default_rng(2)
    n = 80
    fe_h = rng.uniform(-1, 0.3, n)
    cfg = EnsembleConfig(
        n_members=1,
        n_keep=1,
        cnn=CNNConfig(channels=(4,), kernel_size=5, pool=(4,), dense=(8,), dropout=0.0),
        train=TrainConfig(max_epochs=1, optimizer="adam", lr=1e-3, batch_size=16),
    )
    flux = 1 + rng.normal(0, 0.01, (n, WL.size))
    warned = {}
    for kind, mg in (
        ("correlated", -0.3 * fe_h + rng.normal(0, 0.03, n)),
        ("decorrelated", rng.uniform(-0.1, 0.4, n)),
    ):
        sp = Spectra(
            flux, WL * u.AA, np.full_like(flux, 1e4), {"fe_h": fe_h, "mg_fe": mg}
        )
        est = DeepEnsembleRegressor(cfg, device="cpu").fit(sp)
        warned[kind] = [w for w in est.fit_warnings_ if "decorrelated" in w]
    assert len(warned["correlated"]) == 1 and "mg_fe 9" in warned["correlated"][0]
    assert warned["decorrelated"] == []
