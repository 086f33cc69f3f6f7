"""ConditionalINNRegressor on a linear-Gaussian toy survey with a known posterior."""

import json
from dataclasses import replace

import numpy as np
import pytest

from starlabel.models import load
from starlabel.models.cinn import (
    CINNConfig,
    CINNPredictOptions,
    ConditionalINNRegressor,
)
from starlabel.spectra import Spectra
from starlabel.training import TrainConfig

from .cinn_toy import exact_posterior, toy_spectra

TOY = CINNConfig(
    cond_dims=(16, 16),
    channels=(8, 8),
    kernel_size=9,
    pool=(2, 2),
    stage_hidden=32,
    dense=(32,),
    dropout=0.0,
    hidden=64,
    label_noise=0.0,
    train=TrainConfig(
        optimizer="adam",
        lr=2e-3,
        batch_size=32,
        max_epochs=25,
        patience=100,
        lr_schedule="step",
        lr_step_epochs=(18,),
        lr_gamma=0.2,
        grad_clip=10.0,
    ),
)


@pytest.fixture(scope="module")
def toy_model() -> ConditionalINNRegressor:
    return ConditionalINNRegressor(TOY, random_state=0).fit(toy_spectra(4000, seed=1))


def test_posterior_of_the_toy_problem_is_recovered(toy_model):
    """Mean to 10 % of the labels' spread (1) and width to 10 %."""
    test = toy_spectra(50, seed=2)
    mean, sd = exact_posterior(test.flux)
    draws = toy_model.sample(test, n_samples=4000, seed=0)
    assert draws.shape == (50, 4000, 2) and draws.dtype == np.float64
    assert np.abs(draws.mean(1) - mean).mean(0) == pytest.approx([0, 0], abs=0.1)
    assert np.median(draws.std(1) / sd, axis=0) == pytest.approx([1, 1], rel=0.1)


def test_precision_mode_external_uncertainty_grows_with_noise(toy_model):
    clean = toy_spectra(20, seed=3)
    noisy = toy_spectra(20, seed=3)
    noisy.ivar[:] = clean.ivar / 16  # the same fluxes, said to be 4x noisier
    kw = CINNPredictOptions(mode="precision", n_external=10, n_internal=100, seed=0)
    a, b = toy_model.predict(clean, kw), toy_model.predict(noisy, kw)
    assert np.all(np.isfinite(a.sigma_external))
    assert np.median(b.sigma_external / a.sigma_external) > 2.0
    np.testing.assert_array_equal(a.sigma_internal.shape, (20, 2))


def test_fast_mode_and_single_draw(toy_model):
    sp = toy_spectra(10, seed=4)
    fast = toy_model.predict(sp)
    assert np.all(np.isfinite(fast.sigma_internal)) and np.all(
        np.isnan(fast.sigma_external)
    )
    one = toy_model.predict(sp, CINNPredictOptions(n_internal=1))
    assert np.all(np.isnan(one.sigma_internal)) and np.all(np.isfinite(one.mean))
    with pytest.raises(ValueError, match="mode"):
        toy_model.predict_options(mode="slow")
    with pytest.raises(ValueError, match="n_internal"):
        toy_model.predict_options(n_internal=0)


def test_save_load_round_trip_gives_the_same_catalogue(toy_model, tmp_path):
    sp = toy_spectra(8, seed=5)
    toy_model.save(tmp_path / "m")
    manifest = json.loads((tmp_path / "m" / "model.json").read_text())
    assert (
        manifest["kind"] == "cinn"
        and manifest["members"][0]["file"] == "cinn.safetensors"
    )
    back = load(tmp_path / "m")
    kw = CINNPredictOptions(mode="precision", n_external=4, n_internal=50, seed=7)
    a, b = toy_model.predict(sp, kw), back.predict(sp, kw)
    np.testing.assert_allclose(b.mean, a.mean, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(b.sigma_external, a.sigma_external, rtol=1e-5, atol=1e-6)


def test_stars_with_a_missing_label_are_left_out():
    sp = toy_spectra(60, seed=6)
    sp.labels["fe_h"][:7] = np.nan
    cfg = replace(TOY, train=replace(TOY.train, max_epochs=1))
    est = ConditionalINNRegressor(cfg).fit(sp)
    assert est.n_dropped_ == 7 and est.n_train_ == 42


def test_log_prob_matches_the_exact_gaussian_posterior(toy_model):
    """log p(y | x) of the flow against the toy's analytic Gaussian posterior (full
    covariance), at points drawn around the posterior mean."""
    from scipy.stats import multivariate_normal

    from .cinn_toy import SIGMA, design

    test = toy_spectra(40, seed=6)
    mean, _ = exact_posterior(test.flux)
    a = design()
    cov = np.linalg.inv(np.eye(2) + a.T @ a / SIGMA**2)
    rng = np.random.default_rng(0)
    y = mean + rng.multivariate_normal(np.zeros(2), cov, size=len(mean))
    got = toy_model.log_prob(y, test)
    want = np.array(
        [multivariate_normal(m, cov).logpdf(v) for m, v in zip(mean, y, strict=True)]
    )
    assert got.shape == (40,) and got.dtype == np.float64
    # The learned posterior is approximate (means and widths to ~10 %, above), which
    # moves log p by a few tenths either way, but no constant offset may remain.
    assert abs(np.mean(got - want)) < 0.15 and np.median(np.abs(got - want)) < 0.4
    with pytest.raises(ValueError, match="labels: expected shape"):
        toy_model.log_prob(y[:, :1], test)


def test_log_prob_is_a_normalised_density(toy_model):
    """exp(log p) summed over a fine grid in the labels' units integrates to 1: the
    Jacobian and the label scaling are accounted for exactly."""
    test = toy_spectra(3, seed=7)
    mean, sd = exact_posterior(test.flux)
    u = np.linspace(-7, 7, 141)
    for i in range(3):
        g0, g1 = np.meshgrid(mean[i, 0] + u * sd[0], mean[i, 1] + u * sd[1])
        y = np.stack([g0.ravel(), g1.ravel()], axis=1)
        same = Spectra(
            np.repeat(test.flux[i : i + 1], len(y), 0),
            test.wavelength,
            np.repeat(test.ivar[i : i + 1], len(y), 0),
        )
        logp = toy_model.log_prob(y, same)
        area = (u[1] - u[0]) ** 2 * sd[0] * sd[1]
        assert np.exp(logp).sum() * area == pytest.approx(1.0, abs=0.03)


def test_sample_and_log_prob_need_a_fitted_model():
    from starlabel.models import NotFittedError

    est = ConditionalINNRegressor(TOY)
    with pytest.raises(NotFittedError):
        est.sample(toy_spectra(2, seed=0), n_samples=3)
    with pytest.raises(NotFittedError):
        est.log_prob(np.zeros((2, 2)), toy_spectra(2, seed=0))
