"""Pixels no spectrum can have, spikes and bad pixels: found and masked."""

from __future__ import annotations

import warnings

import numpy as np
from scipy import ndimage

__all__ = [
    "NORMALISED_FLUX_RANGE",
    "RAW_FLUX_LIMIT",
    "nonphysical_flux",
    "mask_nonphysical",
    "clean_spikes",
]

NORMALISED_FLUX_RANGE = (-1.0, 10.0)
RAW_FLUX_LIMIT = 1e3


def nonphysical_flux(flux: np.ndarray, *, normalised: bool = True) -> np.ndarray:
    """Pixels whose flux no real spectrum can have (a reduction fault, not noise).

    Continuum-normalised flux (``normalised=True``, as in every dataset file) is
    non-physical when not finite or outside :data:`NORMALISED_FLUX_RANGE` = [-1, 10]:
    absorption spectra lie in 0-1.1; noise at S/N ~1 stays above -1; emission lines
    of active stars reach a few times the continuum, 10 never. Flux in arbitrary
    units (``normalised=False``) is non-physical when not finite or larger in
    magnitude than :data:`RAW_FLUX_LIMIT` (1000) times the median absolute flux of
    the spectrum's finite pixels (scale-free: 1e30 in a spectrum of a few hundred
    counts, -1e30 anywhere).

    Args:
        flux: ``(n_pixels,)`` or ``(n_spectra, n_pixels)``.
        normalised: which rule applies.

    Returns:
        Boolean mask of the same shape.

    Example:
        >>> nonphysical_flux(np.array([1.0, 0.5, 1e30, -3.0, np.inf])).tolist()
        [False, False, True, True, True]
    """
    f = np.asarray(flux)
    with np.errstate(invalid="ignore", over="ignore"):
        finite = np.isfinite(f)
        if normalised:
            lo, hi = NORMALISED_FLUX_RANGE
            return ~finite | (f < lo) | (f > hi)
        f2 = np.atleast_2d(f).astype(np.float64)
        a = np.where(np.isfinite(f2), np.abs(f2), np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows
            scale = np.nanmedian(a, axis=1, keepdims=True)
        limit = np.where(
            np.isfinite(scale) & (scale > 0), RAW_FLUX_LIMIT * scale, np.inf
        )
        bad = ~np.isfinite(f2) | (np.abs(np.where(np.isfinite(f2), f2, 0.0)) > limit)
        return bad.reshape(f.shape)


def mask_nonphysical(
    flux: np.ndarray, ivar: np.ndarray, *, normalised: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mask non-physical pixels (:func:`nonphysical_flux`): ivar 0, flux interpolated.

    The flux of a masked pixel is replaced by linear interpolation between the
    nearest pixels that are unmasked and physical (1 when there is none), so that
    no code using the flux array sees the bad value. Other pixels are untouched.

    Args:
        flux, ivar: ``(n_pixels,)`` or ``(n_spectra, n_pixels)``.
        normalised: see :func:`nonphysical_flux`.

    Returns:
        ``(flux, ivar, bad)``: new arrays of the input dtypes and the mask of the
        pixels masked here.
    """
    f_in, iv_in = np.asarray(flux), np.asarray(ivar)
    bad = nonphysical_flux(f_in, normalised=normalised)
    if not bad.any():
        return f_in.copy(), iv_in.copy(), bad
    f = np.array(f_in, ndmin=2, copy=True)
    iv = np.array(iv_in, ndmin=2, copy=True)
    b = bad.reshape(f.shape)
    x = np.arange(f.shape[1])
    for i in np.flatnonzero(b.any(axis=1)):
        good = ~b[i] & (iv[i] > 0)
        if not good.any():
            good = ~b[i]
        f[i, b[i]] = np.interp(x[b[i]], x[good], f[i, good]) if good.any() else 1.0
    iv[b] = 0
    return f.reshape(f_in.shape), iv.reshape(iv_in.shape), bad


def clean_spikes(
    flux: np.ndarray, ivar: np.ndarray, *, n_sigma: float = 5.0, window: int = 21
) -> tuple[np.ndarray, np.ndarray]:
    """Replace spikes and zero-flux pixels by the local median and mask them.

    A pixel is a spike when it lies more than ``n_sigma`` noise sigmas above the
    running median of ``window`` pixels, the noise being ``1/sqrt(ivar)`` or, where
    the inverse variance is unknown, 1.4826 x the median absolute deviation of the
    spectrum about its running median. Cosmic rays only add flux, so only upward
    outliers are cut (absorption lines are never touched). Pixels with zero or
    non-finite flux are also replaced. Replaced pixels get ``ivar = 0``.

    Args:
        flux: ``(n_pixels,)`` or ``(n_spectra, n_pixels)``.
        ivar: same shape; 0 = masked.
        n_sigma: threshold in noise sigmas (Ambrosch et al. 2023: 5).
        window: running-median width in pixels (odd).

    Returns:
        Cleaned ``(flux, ivar)``, new arrays.
    """
    f = np.array(flux, dtype=np.float64, ndmin=2)
    iv = np.array(ivar, dtype=np.float64, ndmin=2)
    bad = ~np.isfinite(f) | (f == 0)
    work = f.copy()
    for i in range(f.shape[0]):
        good = ~bad[i]
        fill = np.median(f[i][good]) if good.any() else 1.0
        work[i][bad[i]] = fill
    med = ndimage.median_filter(work, size=(1, window | 1), mode="nearest")
    resid = work - med
    with np.errstate(divide="ignore"):
        sigma = np.where(iv > 0, 1.0 / np.sqrt(iv), np.nan)
    mad = 1.4826 * np.median(np.abs(resid), axis=1, keepdims=True)
    sigma = np.where(np.isfinite(sigma), sigma, mad)
    spikes = (resid > n_sigma * sigma) & ~bad
    replace = spikes | bad
    out_f = np.where(replace, med, f)
    out_iv = np.where(replace, 0.0, iv)
    shape = np.shape(flux)
    return out_f.reshape(shape), out_iv.reshape(shape)
