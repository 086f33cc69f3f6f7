"""Continuum normalisation: running percentile or iterative polynomial."""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy import ndimage

from ..grids import split_segments

__all__ = ["normalise_continuum"]


def normalise_continuum(
    wavelength: np.ndarray,
    flux: np.ndarray,
    ivar: np.ndarray,
    *,
    method: Literal["percentile", "polynomial"] = "percentile",
    window_aa: float = 25.0,
    percentile: float = 90.0,
    degree: int = 5,
    n_iter: int = 10,
    low_sigma: float = 1.5,
    high_sigma: float = 3.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Divide a spectrum by an estimate of its continuum.

    ``"percentile"``: a clipped quadratic trend is divided out first; then the
    running ``percentile`` (default 90th) of the flux in a window of ``window_aa``
    Angstrom gives a first continuum; it is then refined
    three times on the pixels at the local upper envelope (within 3 noise sigma or
    0.5 %) by a running median and a quadratic Savitzky-Golay smoothing of the same
    width, which removes the percentile's bias on sloped continua. Robust to
    absorption lines as long as each window holds some continuum.

    ``"polynomial"``: a Chebyshev polynomial of ``degree`` fitted iteratively with
    asymmetric clipping: pixels more than ``low_sigma`` below or ``high_sigma`` above
    the fit (in units of the residual scatter) are dropped, which rejects absorption
    lines, for ``n_iter`` rounds or until nothing changes.

    Segments separated by gaps are normalised separately. Masked pixels do not enter
    the estimate.

    Args:
        wavelength: ``(n_pixels,)`` Angstrom.
        flux, ivar: ``(n_pixels,)``.

    Returns:
        ``(flux / continuum, ivar * continuum**2, continuum)``.
    """
    wl = np.asarray(wavelength, dtype=np.float64)
    f = np.asarray(flux, dtype=np.float64)
    iv = np.asarray(ivar, dtype=np.float64)
    cont = np.ones_like(f)
    start = 0
    for seg in split_segments(wl):
        sl = slice(start, start + seg.size)
        start += seg.size
        good = (iv[sl] > 0) & np.isfinite(f[sl])
        if good.sum() < max(degree + 2, 5):
            cont[sl] = np.nan
            continue
        if method == "percentile":
            step = np.median(np.diff(seg))
            size = max(5, int(round(window_aa / step)) | 1)
            if size >= seg.size:
                size = max(5, (seg.size // 2) | 1)
            # Divide out a clipped quadratic trend first, so the running percentile
            # works on a nearly flat spectrum (no slope bias, no edge effects).
            trend = _polynomial_continuum(
                seg, f[sl], good, 2, n_iter, low_sigma, high_sigma
            )
            flat = f[sl] / trend
            cont[sl] = trend * _running_continuum(
                flat, iv[sl] * trend**2, good, size, percentile
            )
        elif method == "polynomial":
            cont[sl] = _polynomial_continuum(
                seg, f[sl], good, degree, n_iter, low_sigma, high_sigma
            )
        else:
            raise ValueError(
                f"method: expected 'percentile' or 'polynomial', got {method!r}"
            )
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = np.isfinite(cont) & (cont > 0)
        out_f = np.where(ok, f / cont, np.nan)
        out_iv = np.where(ok, iv * cont**2, 0.0)
    return out_f, out_iv, cont


def _polynomial_continuum(
    seg: np.ndarray,
    f: np.ndarray,
    good: np.ndarray,
    degree: int,
    n_iter: int,
    low_sigma: float,
    high_sigma: float,
) -> np.ndarray:
    """Chebyshev fit with asymmetric sigma clipping (rejects absorption lines)."""
    x = (seg - seg[0]) / (seg[-1] - seg[0]) * 2.0 - 1.0
    use = good.copy()
    fit = np.ones(seg.size)
    for _ in range(n_iter):
        coef = np.polynomial.chebyshev.chebfit(x[use], f[use], degree)
        fit = np.polynomial.chebyshev.chebval(x, coef)
        resid = f - fit
        scatter = 1.4826 * np.median(np.abs(resid[use]))
        new = good & (resid > -low_sigma * scatter) & (resid < high_sigma * scatter)
        if new.sum() < degree + 2 or np.array_equal(new, use):
            break
        use = new
    return fit


def _running_continuum(
    f: np.ndarray,
    iv: np.ndarray,
    good: np.ndarray,
    size: int,
    percentile: float,
    n_iter: int = 3,
) -> np.ndarray:
    """Running-percentile continuum, refined on the pixels that sit at it.

    A running upper percentile alone is biased on a sloped continuum (the 90th
    percentile of a ramp lies above its centre). So: start from the running
    percentile; pick the pixels within noise (or 0.5 %) of the local upper envelope
    of flux/continuum; take the running median of those pixels (lines are
    interpolated over), then smooth it with a quadratic Savitzky-Golay filter, which
    follows slopes and curvature without bias up to the segment ends.
    """
    from scipy.signal import savgol_filter

    x = np.arange(f.size)
    filled = np.interp(x, x[good], f[good])
    cont = ndimage.percentile_filter(filled, percentile, size=size, mode="nearest")
    with np.errstate(divide="ignore", invalid="ignore"):
        for _ in range(n_iter):
            ratio = filled / cont
            envelope = ndimage.percentile_filter(
                ratio, percentile, size=size, mode="nearest"
            )
            sigma = np.where(iv > 0, 1.0 / (np.sqrt(iv) * np.abs(cont)), np.inf)
            tol = np.maximum(3.0 * sigma, 0.005)
            on = good & (ratio >= envelope - tol)
            if on.sum() < 5:
                break
            level = ndimage.median_filter(
                np.interp(x, x[on], f[on]), size=size, mode="nearest"
            )
            cont = savgol_filter(level, size, 2, mode="interp")
    return cont
