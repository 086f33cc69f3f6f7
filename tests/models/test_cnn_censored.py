"""A censored CNN: each abundance reads only its own element's and iron's lines."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
import torch

import starlabel
from starlabel.models import CNNConfig, DeepEnsembleRegressor, EnsembleConfig
from starlabel.models.censor import censoring_masks
from starlabel.spectra import Spectra
from starlabel.training import TrainConfig

WL = np.arange(5500.0, 5560.0, 0.05)  # Mg I 5528.4 and Fe lines, HR10-like sampling


@pytest.fixture(scope="module")
def censored():
    rng = np.random.default_rng(0)
    n = 80
    labels = {
        "teff": rng.uniform(4500, 6000, n),
        "fe_h": rng.normal(0, 0.3, n),
        "mg_fe": rng.uniform(-0.1, 0.4, n),
    }
    flux = 1 + rng.normal(0, 0.01, (n, WL.size))
    sp = Spectra(flux, WL * u.AA, np.full_like(flux, 1e4), labels)
    cfg = EnsembleConfig(
        n_members=2,
        n_keep=2,
        cnn=CNNConfig(channels=(4,), kernel_size=5, pool=(4,), dense=(8,), dropout=0.0),
        train=TrainConfig(max_epochs=2, optimizer="adam", lr=1e-3, batch_size=16),
        censor=True,
    )
    return DeepEnsembleRegressor(cfg, device="cpu").fit(sp), sp


def test_an_abundance_has_no_gradient_outside_its_windows(censored):
    est, sp = censored
    mask = censoring_masks(WL, ["mg_fe"])["mg_fe"]
    assert 0 < mask.mean() < 0.5
    flux = torch.as_tensor(sp.flux[:4], dtype=torch.float32).requires_grad_(True)
    out = est.label_function()(flux)
    names = list(est.label_names_)
    (grad_mg,) = torch.autograd.grad(
        out[:, names.index("mg_fe")].sum(), flux, retain_graph=True
    )
    (grad_teff,) = torch.autograd.grad(out[:, names.index("teff")].sum(), flux)
    g = grad_mg.abs().sum(0).numpy()
    assert (g[~mask] == 0).all() and (g[mask] > 0).any()
    assert (grad_teff.abs().sum(0).numpy()[~mask] > 0).any()  # Teff sees everything


def test_a_censored_model_saves_and_predicts_the_same(censored, tmp_path):
    est, sp = censored
    back = starlabel.load(est.save(tmp_path / "m"))
    np.testing.assert_allclose(back.predict(sp).mean, est.predict(sp).mean, rtol=1e-5)
    assert back.resolved_config().censor
