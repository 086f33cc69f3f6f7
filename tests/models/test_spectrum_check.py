"""The spectrum check: a goodness of fit of every catalogue's spectra at their
predicted labels, that sees a spectrum unlike the training set (issue 29, point 3)."""

import numpy as np
import pytest

from starlabel.models.spectrum_check import SpectrumCheck, fit_spectrum_check

N_PIX = 200
X = np.arange(N_PIX)
LINE1 = np.exp(-0.5 * ((X - 60) / 3.0) ** 2)
LINE2 = np.exp(-0.5 * ((X - 140) / 3.0) ** 2)
EXTRA = np.exp(-0.5 * ((X - 100) / 3.0) ** 2)  # a line the training set never had


def true_flux(y: np.ndarray) -> np.ndarray:
    """Quadratic in the labels, so the check's model can be exact."""
    d1 = 0.3 + 0.2 * y[:, 0] + 0.1 * y[:, 0] ** 2
    d2 = 0.2 + 0.15 * y[:, 1] - 0.05 * y[:, 0] * y[:, 1]
    return 1.0 - d1[:, None] * LINE1 - d2[:, None] * LINE2


def stars(n: int, snr: float, seed: int, extra: float = 0.0):
    rng = np.random.default_rng(seed)
    y = rng.uniform(-1, 1, (n, 2))
    flux = true_flux(y) - extra * EXTRA + rng.normal(0, 1 / snr, (n, N_PIX))
    ivar = np.full((n, N_PIX), snr**2)
    ivar[rng.random((n, N_PIX)) < 0.02] = 0.0  # bad pixels
    return y, flux, ivar


@pytest.fixture(scope="module")
def check() -> SpectrumCheck:
    y, flux, ivar = stars(1500, 50.0, 0)
    out = fit_spectrum_check(flux, ivar, y, ["a", "b"])
    assert out is not None
    return out


def test_model_flux_matches_the_generating_model(check):
    y = np.random.default_rng(1).uniform(-0.9, 0.9, (50, 2))
    assert np.abs(check.model_flux(y) - true_flux(y)).max() < 0.01
    # no intrinsic scatter where the model is exact: well under the noise (0.02)
    assert np.nanmedian(np.sqrt(check.scatter)) < 0.005


def test_training_like_stars_have_chi2_near_one_at_any_snr(check):
    for snr in (10.0, 50.0, 300.0):
        y, flux, ivar = stars(400, snr, 2)
        assert np.median(check.chi2(y, flux, ivar)) == pytest.approx(1.0, abs=0.1)


def test_a_perturbed_line_raises_chi2_and_more_so_at_high_snr(check):
    y, flux, ivar = stars(400, 100.0, 3, extra=0.05)
    chi2 = check.chi2(y, flux, ivar)
    # 5 % deep line over ~7 px of 200 at S/N 100: sum of (0.05 g / 0.01)^2 / 200
    expected = 1.0 + np.sum((0.05 * EXTRA * 100.0) ** 2) / N_PIX
    assert np.median(chi2) == pytest.approx(expected, rel=0.15)
    low = check.chi2(*stars(400, 20.0, 4, extra=0.05))
    assert np.median(low) < np.median(chi2)
    # wrong labels on a normal spectrum are seen too, as much as the truth says
    y, flux, ivar = stars(200, 100.0, 5)
    y = np.clip(y, -0.45, 0.45)
    flux = true_flux(y) + np.random.default_rng(7).normal(0, 0.01, flux.shape)
    off = y + 0.5
    diff = np.sum((true_flux(off) - true_flux(y)) ** 2 * ivar, 1) / (ivar > 0).sum(1)
    assert np.median(check.chi2(off, flux, ivar)) == pytest.approx(
        1.0 + np.median(diff), rel=0.15
    )
    y[0] = np.nan
    assert np.isnan(check.chi2(y, flux, ivar)[0])


def test_round_trip_through_the_manifest(check):
    entry, arrays = check.to_manifest()
    back = SpectrumCheck.from_manifest(entry, arrays)
    y, flux, ivar = stars(20, 50.0, 6)
    assert np.allclose(back.chi2(y, flux, ivar), check.chi2(y, flux, ivar), rtol=1e-4)
