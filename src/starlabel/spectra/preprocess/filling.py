"""Masked pixels filled: dense flux for the networks."""

from __future__ import annotations

from typing import Literal

import numpy as np

from ..container import Spectra

__all__ = ["fill_masked", "dense_flux"]


def fill_masked(
    flux: np.ndarray,
    ivar: np.ndarray,
    *,
    method: Literal["interp", "one", "mean"] = "interp",
) -> np.ndarray:
    """Flux with masked pixels (``ivar == 0`` or NaN) filled; ivar stays 0 there.

    ``"interp"``: linear interpolation between the nearest unmasked pixels (ends
    take the nearest value); ``"one"``: the continuum level 1; ``"mean"``: the mean
    unmasked flux of the spectrum (Candebat et al. 2024). A spectrum with no unmasked
    pixel is filled with 1.

    Args:
        flux, ivar: ``(n_spectra, n_pixels)`` or ``(n_pixels,)``.
    """
    f = np.array(flux, dtype=np.float64, ndmin=2)
    bad = (np.array(ivar, ndmin=2) <= 0) | ~np.isfinite(f)
    x = np.arange(f.shape[1])
    for i in np.flatnonzero(bad.any(axis=1)):
        good = ~bad[i]
        if not good.any():
            f[i] = 1.0
        elif method == "interp":
            f[i, bad[i]] = np.interp(x[bad[i]], x[good], f[i, good])
        elif method == "one":
            f[i, bad[i]] = 1.0
        elif method == "mean":
            f[i, bad[i]] = f[i, good].mean()
        else:
            raise ValueError(
                f"method: expected 'interp', 'one' or 'mean', got {method!r}"
            )
    dtype = np.asarray(flux).dtype
    return f.reshape(np.shape(flux)).astype(dtype if dtype.kind == "f" else np.float64)


def dense_flux(spectra: Spectra) -> tuple[np.ndarray, np.ndarray]:
    """Flux with masked pixels filled, and which spectra have no usable pixel.

    Masked pixels (``ivar <= 0`` or NaN flux) are filled by linear interpolation
    (:func:`fill_masked` ``"interp"``); a spectrum with no usable pixel (all ivar 0,
    or no finite flux) is set to 1 everywhere and reported dead.

    Returns:
        ``(flux, dead)``: float32 ``(n_spectra, n_pixels)`` and bool ``(n_spectra,)``.
    """
    dead = (spectra.ivar <= 0).all(axis=1) | ~np.isfinite(spectra.flux).any(axis=1)
    flux = fill_masked(spectra.flux, spectra.ivar, method="interp").astype(np.float32)
    flux[dead] = 1.0
    return flux, dead
