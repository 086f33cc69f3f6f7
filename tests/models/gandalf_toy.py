"""A toy survey of three independent labels, each setting the depth of its own line."""

from __future__ import annotations

import astropy.units as u
import numpy as np

from starlabel.spectra import Spectra

N_PIXELS = 48
CENTRES = (10, 24, 38)
NAMES = ("logg", "fe_h", "mg_fe")
RANGES = ((1.0, 5.0), (-2.0, 0.5), (-0.2, 0.5))


def toy_labels(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.uniform(lo, hi, n) for lo, hi in RANGES])


def toy_flux(labels: np.ndarray) -> np.ndarray:
    """Noise-free flux: line k has depth 0.1 + 0.5 * (label k scaled to 0..1)."""
    px = np.arange(N_PIXELS)
    out = np.ones((len(labels), N_PIXELS))
    for k, ((lo, hi), c) in enumerate(zip(RANGES, CENTRES, strict=True)):
        depth = 0.1 + 0.5 * (labels[:, k] - lo) / (hi - lo)
        out -= depth[:, None] * np.exp(-0.5 * ((px - c) / 2.5) ** 2)[None, :]
    return out


def toy_spectra(n: int, seed: int, sigma: float = 0.01) -> Spectra:
    labels = toy_labels(n, seed)
    rng = np.random.default_rng(seed + 1)
    flux = toy_flux(labels) + rng.normal(0, sigma, (n, N_PIXELS))
    return Spectra(
        flux,
        np.linspace(5000, 5047, N_PIXELS) * u.AA,
        np.full(flux.shape, 1 / sigma**2),
        dict(zip(NAMES, labels.T, strict=True)),
        meta={"id": [f"g{seed}-{i}" for i in range(n)]},
    )
