"""A linear-Gaussian toy survey whose posterior is known exactly."""

from __future__ import annotations

import astropy.units as u
import numpy as np

from starlabel.spectra import Spectra

N_PIXELS = 64
SIGMA = 0.13  # per-pixel noise
AMPLITUDE = 0.1


def design() -> np.ndarray:
    """``(n_pixels, 2)``: two Gaussian lines whose depths are the two labels."""
    px = np.arange(N_PIXELS)
    return AMPLITUDE * np.stack(
        [np.exp(-0.5 * ((px - 20) / 3) ** 2), np.exp(-0.5 * ((px - 44) / 3) ** 2)],
        axis=1,
    )


def toy_spectra(n: int, seed: int, sigma: float = SIGMA) -> Spectra:
    """Labels ~ N(0, I); flux = 1 + A @ labels + N(0, sigma^2)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    flux = 1.0 + x @ design().T + rng.normal(0, sigma, (n, N_PIXELS))
    return Spectra(
        flux,
        np.linspace(5000, 5063, N_PIXELS) * u.AA,
        np.full(flux.shape, 1 / sigma**2),
        {"logg": x[:, 0], "fe_h": x[:, 1]},
        meta={"id": [f"t{seed}-{i}" for i in range(n)]},
    )


def exact_posterior(
    flux: np.ndarray, sigma: float = SIGMA
) -> tuple[np.ndarray, np.ndarray]:
    """Posterior means ``(n, 2)`` and standard deviations ``(2,)`` of the labels."""
    a = design()
    cov = np.linalg.inv(np.eye(2) + a.T @ a / sigma**2)
    mean = (flux - 1.0) @ a @ cov.T / sigma**2
    return mean, np.sqrt(np.diag(cov))
