"""Heteroscedastic (beta-NLL) ensemble members and their mixture."""

import numpy as np
import pytest

from starlabel.models import CNNConfig, DeepEnsembleRegressor, EnsembleConfig
from starlabel.models.cnn import mixture_moments
from starlabel.training import TrainConfig

from .gandalf_toy import toy_spectra


def test_mixture_moments_equal_the_gaussian_mixture_variance():
    rng = np.random.default_rng(0)
    mu = rng.normal(size=(5, 7, 3))
    var = rng.uniform(0.1, 2.0, size=(5, 7, 3))
    mean, aleatoric, epistemic = mixture_moments(mu, var)
    # independent form: E[x^2] - E[x]^2 of the equally weighted mixture
    second = (var + mu**2).mean(axis=0)
    np.testing.assert_allclose(mean, mu.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(aleatoric + epistemic, second - mean**2, rtol=1e-10)
    np.testing.assert_allclose(aleatoric, var.mean(axis=0), rtol=1e-12)


def _noisy(n, seed):
    """The toy survey with logg labels scattered by a known, logg-dependent noise."""
    sp = toy_spectra(n, seed, sigma=0.003)
    true = sp.labels["logg"].copy()
    noise = 0.05 + 0.1 * (true - 1.0)  # 0.05 dex at logg 1 ... 0.45 dex at logg 5
    observed = true + np.random.default_rng(seed + 7).normal(0, noise)
    return sp.replace(labels={"logg": observed}), true, noise


@pytest.fixture(scope="module")
def member():
    train, _, _ = _noisy(3000, 0)
    cfg = EnsembleConfig(
        n_members=1,
        n_keep=1,
        loss="beta_nll",
        cnn=CNNConfig(
            channels=(8,), kernel_size=5, pool=(2,), dense=(64, 64), dropout=0.0
        ),
        train=TrainConfig(
            max_epochs=100,
            patience=30,
            optimizer="adam",
            lr=1e-3,
            batch_size=64,
            lr_schedule="plateau",
            lr_gamma=0.3,
        ),
        valid_fraction=0.2,
    )
    return DeepEnsembleRegressor(cfg, labels=["logg"], device="cpu").fit(train)


def test_a_heteroscedastic_member_recovers_input_dependent_noise(member):
    test, true, noise = _noisy(800, 1)
    pred = member.predict(test)
    ratio = pred.sigma_external[:, 0] / noise
    assert np.median(ratio) == pytest.approx(1.0, abs=0.1)
    low, high = true < 2.5, true > 3.5
    assert np.median(ratio[low]) == pytest.approx(1.0, abs=0.1)
    assert np.median(ratio[high]) == pytest.approx(1.0, abs=0.1)
    # the mean stays on the true labels (the noise is in the training labels only)
    assert np.std(pred.mean[:, 0] - true) < 0.1
    assert np.all(pred.sigma_internal == 0)  # one member: no model part
    assert "Gaussian likelihood" in pred.descriptions["ext"]


def test_heteroscedastic_members_save_and_load(member, tmp_path):
    from starlabel.models import load

    test, _, _ = _noisy(20, 2)
    back = load(member.save(tmp_path / "m"))
    a, b = member.predict(test), back.predict(test)
    np.testing.assert_allclose(b.sigma_external, a.sigma_external, rtol=1e-6)
    np.testing.assert_allclose(b.mean, a.mean, rtol=1e-6)
