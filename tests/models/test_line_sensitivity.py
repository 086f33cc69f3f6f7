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


# lines outside every Mg window: one carries log g (5545 A), one Teff (5552 A)
OTHER = np.exp(-0.5 * ((WL - 5545.0) / 0.05) ** 2)
HOT = np.exp(-0.5 * ((WL - 5552.0) / 0.05) ** 2)


def _blended_flux(labels, mg_in_other=0.0):
    """The Mg line also deepens with log g; the other line measures log g (and,
    with ``mg_in_other``, [Mg/Fe], as a correlated training set teaches), the third
    Teff."""
    teff, logg, mg = labels.T
    depth = 0.3 + 0.05 * logg + _depth_slope(teff) * mg
    other = 0.2 + 0.02 * logg + mg_in_other * mg
    hot = 0.1 + 1e-4 * (teff - 5000.0)
    return 1.0 - depth[:, None] * LINE - other[:, None] * OTHER - hot[:, None] * HOT


def _blended_jacobian(labels, mg_in_other=0.0):
    """d flux / d (Teff, log g, [Mg/Fe]) by hand, (n, pixels, 3)."""
    teff, logg, mg = labels.T
    d_teff = -(-2.0 / 1500.0 * mg)[:, None] * LINE - 1e-4 * HOT
    d_logg = np.broadcast_to(-0.05 * LINE - 0.02 * OTHER, d_teff.shape)
    d_mg = -_depth_slope(teff)[:, None] * LINE - mg_in_other * OTHER
    return np.stack([d_teff, d_logg, d_mg], axis=-1)


def _check_and_sensitivity(flux_fn):
    from starlabel.models.spectrum_check import fit_spectrum_check

    labels, _, ivar = _training(600)
    flux = flux_fn(labels)
    ivar = np.where(ivar > 0, 1e12, 0.0)  # noiseless training flux, as its ivar says
    sens = fit_line_sensitivity(WL, flux, ivar, labels, NAMES)
    check = fit_spectrum_check(flux, ivar, labels, NAMES)
    return sens, check


def test_the_marginal_bound_equals_the_inverse_fisher_matrix_of_the_own_line():
    """log g deepens the Mg line too: with log g estimated from the same spectrum
    (the other line) the bound on [Mg/Fe] is wider than with log g known; it is
    sqrt((F^-1)_mg) of the analytic Fisher matrix, and the conditional bound
    1 / sqrt(F_mg,mg)."""
    sens, check = _check_and_sensitivity(_blended_flux)
    test = np.array([[4600.0, 2.0, 0.1], [5200.0, 4.0, 0.3]])
    ivar = np.full((2, WL.size), IVAR)
    jac = _blended_jacobian(test)
    fisher = np.einsum("npa,np,npb->nab", jac, ivar, jac)
    expected = np.sqrt(np.linalg.inv(fisher)[:, 2, 2])
    marginal = sens.bound(test, ivar, check)["mg_fe"]
    np.testing.assert_allclose(marginal, expected, rtol=2e-3)
    conditional = sens.bound(test, ivar, None)["mg_fe"]  # no check: the old bound
    np.testing.assert_allclose(conditional, fisher[:, 2, 2] ** -0.5, rtol=2e-3)
    assert (marginal > 1.2 * conditional).all()


def test_an_abundance_read_from_another_elements_line_gives_no_bound():
    """Where [Mg/Fe] changes only a line that is not Mg's (as a training set whose
    Mg follows another element teaches), the own-lines bound is inf: the Mg line
    itself no longer depends on [Mg/Fe] at 6000 K."""
    sens, check = _check_and_sensitivity(lambda y: _blended_flux(y, mg_in_other=0.3))
    test = np.array([[6000.0, 3.0, 0.1], [4600.0, 3.0, 0.1]])
    ivar = np.full((2, WL.size), IVAR)
    bound = sens.bound(test, ivar, check)["mg_fe"]
    assert np.isinf(bound[0])
    jac = _blended_jacobian(test, mg_in_other=0.3)
    jac[:, np.abs(WL - 5545.0) < 1.0, 2] = 0.0  # the other line may not measure Mg
    fisher = np.einsum("npa,np,npb->nab", jac[1:], ivar[1:], jac[1:])
    np.testing.assert_allclose(
        bound[1], np.sqrt(np.linalg.inv(fisher)[0, 2, 2]), rtol=2e-3
    )


def test_no_sensitivity_without_lines_or_without_enough_stars():
    labels, flux, ivar = _training()
    apogee = np.linspace(15200, 16900, WL.size)  # no line of the list there
    assert fit_line_sensitivity(apogee, flux, ivar, labels, NAMES) is None
    assert fit_line_sensitivity(WL, flux[:20], ivar[:20], labels[:20], NAMES) is None


def test_a_star_whose_own_lines_are_too_weak_is_flagged_and_its_error_is_the_prior():
    """Star 0 (4600 K): the Mg line measures [Mg/Fe] far better than the prior;
    star 1 (5995 K): the line no longer depends on [Mg/Fe], so the value is the
    prior's: OWN_LINES_WEAK and as _err the prior's, the RMS distance of a training
    star from the value. A claimed error below what the own lines and the prior
    allow is raised to that floor."""
    labels, flux, ivar = _training()
    sens = fit_line_sensitivity(WL, flux, ivar, labels, NAMES)
    spread = float(np.std(labels[:, 2]))
    model = SimpleNamespace(
        line_sensitivity_=sens,
        label_std_={"mg_fe": spread},
        label_mean_={"mg_fe": float(np.mean(labels[:, 2]))},
        label_range_={},
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
    rms = np.sqrt(np.mean((labels[:, 2] - mean[1, 2]) ** 2))
    assert calibrated[1, 2] == pytest.approx(rms)
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
