"""ConditionalINNRegressor on a linear-Gaussian toy survey with a known posterior."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from starlabel.models import load
from starlabel.models.cinn import CINNConfig, ConditionalINNRegressor
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
    draws = toy_model.sample(
        torch.as_tensor(test.flux, dtype=torch.float32),
        4000,
        torch.Generator().manual_seed(0),
    ).numpy()
    assert np.abs(draws.mean(1) - mean).mean(0) == pytest.approx([0, 0], abs=0.1)
    assert np.median(draws.std(1) / sd, axis=0) == pytest.approx([1, 1], rel=0.1)


def test_precision_mode_external_uncertainty_grows_with_noise(toy_model):
    clean = toy_spectra(20, seed=3)
    noisy = toy_spectra(20, seed=3)
    noisy.ivar[:] = clean.ivar / 16  # the same fluxes, said to be 4x noisier
    kw = dict(mode="precision", n_external=10, n_internal=100, seed=0)
    a, b = toy_model.predict(clean, **kw), toy_model.predict(noisy, **kw)
    assert np.all(np.isfinite(a.sigma_external))
    assert np.median(b.sigma_external / a.sigma_external) > 2.0
    np.testing.assert_array_equal(a.sigma_internal.shape, (20, 2))


def test_fast_mode_and_single_draw(toy_model):
    sp = toy_spectra(10, seed=4)
    fast = toy_model.predict(sp)
    assert np.all(np.isfinite(fast.sigma_internal)) and np.all(
        np.isnan(fast.sigma_external)
    )
    one = toy_model.predict(sp, n_internal=1)
    assert np.all(np.isnan(one.sigma_internal)) and np.all(np.isfinite(one.mean))
    with pytest.raises(ValueError, match="mode"):
        toy_model.predict(sp, mode="slow")


def test_save_load_round_trip_gives_the_same_catalogue(toy_model, tmp_path):
    sp = toy_spectra(8, seed=5)
    toy_model.save(tmp_path / "m")
    manifest = json.loads((tmp_path / "m" / "model.json").read_text())
    assert (
        manifest["kind"] == "cinn"
        and manifest["members"][0]["file"] == "cinn.safetensors"
    )
    back = load(tmp_path / "m")
    kw = dict(mode="precision", n_external=4, n_internal=50, seed=7)
    a, b = toy_model.predict(sp, **kw), back.predict(sp, **kw)
    np.testing.assert_allclose(b.mean, a.mean, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(b.sigma_external, a.sigma_external, rtol=1e-5, atol=1e-6)


def test_stars_with_a_missing_label_are_left_out():
    sp = toy_spectra(60, seed=6)
    sp.labels["fe_h"][:7] = np.nan
    cfg = replace(TOY, train=replace(TOY.train, max_epochs=1))
    est = ConditionalINNRegressor(cfg).fit(sp)
    assert est.n_dropped_ == 7 and est.n_train_ == 42
