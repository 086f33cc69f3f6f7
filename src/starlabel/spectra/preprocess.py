"""Preprocessing steps, each a plain function on arrays.

* :func:`clean_spikes` — spikes and bad pixels (Ambrosch et al. 2023 §2.1);
* :func:`air_to_vacuum`, :func:`vacuum_to_air` — wavelength media;
* :func:`doppler_factor`, :func:`shift_to_rest` — radial-velocity correction;
* :func:`resample` — flux-conserving resampling with inverse-variance propagation;
* :func:`resample_to_grid` — the same onto a multi-segment :class:`Grid`;
* :func:`normalise_continuum` — running percentile or iterative polynomial;
* :func:`fill_masked`, :func:`dense_flux` — dense input for networks;
* :func:`nonphysical_flux`, :func:`mask_nonphysical` — pixels no spectrum can have;
* :func:`quality_mask` — cuts on S/N, label errors and flags.

``starlabel.spectra.prepare`` chains them.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Literal

import numpy as np
import scipy.sparse as sp
from scipy import ndimage

from .container import Spectra
from .grids import Grid, bin_edges, split_segments

__all__ = [
    "clean_spikes",
    "air_to_vacuum",
    "vacuum_to_air",
    "doppler_factor",
    "shift_to_rest",
    "resample",
    "resample_to_grid",
    "normalise_continuum",
    "fill_masked",
    "dense_flux",
    "nonphysical_flux",
    "mask_nonphysical",
    "NORMALISED_FLUX_RANGE",
    "RAW_FLUX_LIMIT",
    "quality_mask",
    "SPEED_OF_LIGHT_KMS",
]

SPEED_OF_LIGHT_KMS = 299792.458
NORMALISED_FLUX_RANGE = (-1.0, 10.0)
RAW_FLUX_LIMIT = 1e3


# ------------------------------------------------------ non-physical values
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


# ------------------------------------------------------------------- cleaning
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


# ---------------------------------------------------------- media and Doppler
def _refractive_index_vacuum(wl_vac: np.ndarray) -> np.ndarray:
    # Morton (2000, ApJS 130, 403) / Ciddor (1996) formula, as used by VALD:
    # n = 1 + 8.34254e-5 + 2.406147e-2 / (130 - s^2) + 1.5998e-4 / (38.9 - s^2),
    # s = 1e4 / lambda_vac [Angstrom].
    s2 = (1e4 / np.asarray(wl_vac, dtype=np.float64)) ** 2
    return 1.0 + 8.34254e-5 + 2.406147e-2 / (130.0 - s2) + 1.5998e-4 / (38.9 - s2)


def vacuum_to_air(wavelength: np.ndarray) -> np.ndarray:
    """Air wavelengths (Angstrom) from vacuum ones (Morton 2000 / Ciddor 1996).

    Example:
        >>> round(float(vacuum_to_air(np.array([8544.44]))[0]), 2)
        8542.09
    """
    wl = np.asarray(wavelength, dtype=np.float64)
    return wl / _refractive_index_vacuum(wl)


def air_to_vacuum(wavelength: np.ndarray) -> np.ndarray:
    """Vacuum wavelengths (Angstrom) from air ones (fixed-point inverse of ``vacuum_to_air``)."""
    air = np.asarray(wavelength, dtype=np.float64)
    vac = air.copy()
    for _ in range(6):  # converges to < 1e-10 A in 3-4 steps
        vac = air * _refractive_index_vacuum(vac)
    return vac


def doppler_factor(rv_kms: float | np.ndarray) -> np.ndarray:
    """Relativistic Doppler factor ``lambda_obs / lambda_rest`` for a radial velocity."""
    beta = np.asarray(rv_kms, dtype=np.float64) / SPEED_OF_LIGHT_KMS
    return np.sqrt((1.0 + beta) / (1.0 - beta))


def shift_to_rest(wavelength: np.ndarray, rv_kms: float) -> np.ndarray:
    """Rest-frame wavelengths of a spectrum observed with radial velocity ``rv_kms``."""
    return np.asarray(wavelength, dtype=np.float64) / doppler_factor(rv_kms)


# ----------------------------------------------------------------- resampling
def _input_bins(wavelength: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Contiguous input edges and, per bin, the index of its pixel (-1 for gap bins)."""
    edges, owner = [], []
    last = float(wavelength[-1])
    start = 0
    for k, seg in enumerate(split_segments(wavelength)):
        e = bin_edges(seg)
        if k > 0:
            edges.append(np.array([last]))  # the gap bin between segments: no pixel
            owner.append(np.array([-1]))
        edges.append(e[:-1])
        owner.append(np.arange(start, start + seg.size))
        last = e[-1]
        start += seg.size
    edges.append(np.array([last]))
    return np.concatenate(edges), np.concatenate(owner)


def overlap_matrix(in_edges: np.ndarray, out_edges: np.ndarray) -> sp.csr_matrix:
    """``(n_out, n_in)`` sparse matrix of overlap lengths between bins (Angstrom)."""
    lo = max(in_edges[0], out_edges[0])
    hi = min(in_edges[-1], out_edges[-1])
    n_in, n_out = in_edges.size - 1, out_edges.size - 1
    if hi <= lo:
        return sp.csr_matrix((n_out, n_in))
    cuts = np.union1d(in_edges, out_edges)
    cuts = cuts[(cuts >= lo) & (cuts <= hi)]
    length = np.diff(cuts)
    mid = 0.5 * (cuts[1:] + cuts[:-1])
    i = np.searchsorted(in_edges, mid) - 1
    j = np.searchsorted(out_edges, mid) - 1
    ok = (length > 0) & (i >= 0) & (i < n_in) & (j >= 0) & (j < n_out)
    return sp.csr_matrix((length[ok], (j[ok], i[ok])), shape=(n_out, n_in))


def _apply(
    a: sp.csr_matrix,
    out_width: np.ndarray,
    flux: np.ndarray,
    ivar: np.ndarray,
    min_coverage: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    good = (ivar > 0) & np.isfinite(flux)
    w = good.astype(np.float64)
    fz = np.where(good, flux, 0.0)
    with np.errstate(divide="ignore"):
        var = np.where(good, 1.0 / np.where(good, ivar, 1.0), 0.0)
    cov = a @ w.T  # (n_out, n_spec): covered length
    fsum = a @ (w * fz).T
    a2 = a.multiply(a)
    vsum = a2 @ (w * var).T
    frac = cov / out_width[:, None]
    ok = frac >= min_coverage
    with np.errstate(divide="ignore", invalid="ignore"):
        fout = np.where(ok, fsum / cov, np.nan)
        ivout = np.where(ok & (vsum > 0), cov**2 / vsum, 0.0)
    return fout.T, ivout.T, np.clip(frac.T, 0.0, 1.0)


def resample(
    wavelength: np.ndarray,
    flux: np.ndarray,
    ivar: np.ndarray,
    new_wavelength: np.ndarray,
    *,
    min_coverage: float = 0.5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flux-conserving resampling onto ``new_wavelength``, propagating inverse variance.

    Each pixel is a bin (edges at the midpoints between centres); flux density is
    constant within an input bin. An output pixel gets the mean flux density of the
    unmasked input over its bin, ``F_j = sum_i a_ij f_i / sum_i a_ij`` with ``a_ij``
    the overlap length, and the variance of that mean for independent pixels,
    ``var_j = sum_i a_ij^2 var_i / (sum_i a_ij)^2``. The integral of the flux over any
    range made of whole output bins is conserved. Output pixels covered by less than
    ``min_coverage`` of unmasked input are masked (NaN flux, ivar 0). Gaps in either
    grid (steps above 5x the median step) are never bridged.

    Args:
        wavelength: ``(n_in,)`` input pixel centres, increasing.
        flux: ``(n_in,)`` or ``(n_spectra, n_in)``.
        ivar: same shape as ``flux``; 0 = masked.
        new_wavelength: ``(n_out,)`` output pixel centres, increasing.
        min_coverage: fraction of an output bin that unmasked input must cover.

    Returns:
        ``(flux, ivar, coverage)`` on the new grid, shaped like the input's leading
        axes; ``coverage`` is the covered fraction of each output pixel.
    """
    f = np.array(flux, dtype=np.float64, ndmin=2)
    iv = np.array(ivar, dtype=np.float64, ndmin=2)
    in_edges, owner = _input_bins(np.asarray(wavelength, dtype=np.float64))
    # Gap bins carry no data: give them zero weight.
    f_bins = np.zeros((f.shape[0], owner.size))
    iv_bins = np.zeros((f.shape[0], owner.size))
    real = owner >= 0
    f_bins[:, real] = f[:, owner[real]]
    iv_bins[:, real] = iv[:, owner[real]]
    outs_f, outs_iv, outs_c = [], [], []
    for seg in split_segments(np.asarray(new_wavelength, dtype=np.float64)):
        out_edges = bin_edges(seg)
        a = overlap_matrix(in_edges, out_edges)
        fo, io, co = _apply(a, np.diff(out_edges), f_bins, iv_bins, min_coverage)
        outs_f.append(fo), outs_iv.append(io), outs_c.append(co)
    fo, io, co = (np.concatenate(x, axis=1) for x in (outs_f, outs_iv, outs_c))
    if np.ndim(flux) == 1:
        return fo[0], io[0], co[0]
    return fo, io, co


def resample_to_grid(
    wavelength: np.ndarray,
    flux: np.ndarray,
    ivar: np.ndarray,
    grid: Grid,
    *,
    min_coverage: float = 0.5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`resample` onto every segment of a :class:`Grid` (segments never merge)."""
    parts = [
        resample(wavelength, flux, ivar, seg, min_coverage=min_coverage)
        for seg in grid.segments
    ]
    fo, io, co = (np.concatenate([p[k] for p in parts], axis=-1) for k in range(3))
    return fo, io, co


# --------------------------------------------------------------- continuum
def _interp_masked(wl: np.ndarray, f: np.ndarray, good: np.ndarray) -> np.ndarray:
    if good.all():
        return f
    if not good.any():
        return np.ones_like(f)
    return np.interp(wl, wl[good], f[good])


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


# ------------------------------------------------------------------ filling
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


# --------------------------------------------------------------------- cuts
def quality_mask(
    spectra: Spectra,
    *,
    min_snr: float | None = None,
    max_label_err: Mapping[str, float] | None = None,
    flag_column: str | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Which spectra pass the quality cuts, and why the others fail.

    Args:
        spectra: the dataset.
        min_snr: minimum S/N (``meta['snr']`` if present, else :meth:`Spectra.snr`).
        max_label_err: label -> largest accepted reference uncertainty; a missing
            uncertainty fails the cut (Ambrosch et al. 2023: 200 K, 0.3 dex, 0.2 dex).
        flag_column: a meta column of catalogue flags; non-zero or non-empty fails.

    Returns:
        ``(keep, reasons)``: ``(n_spectra,)`` bool, and one reason per spectrum
        (empty string when kept).
    """
    n = spectra.n_spectra
    reasons = [""] * n
    keep = np.ones(n, dtype=bool)

    def fail(mask: np.ndarray, text) -> None:
        for i in np.flatnonzero(mask & keep):
            reasons[i] = text(i)
        keep[mask] = False

    if min_snr is not None:
        snr = (
            spectra.meta["snr"].astype(float)
            if "snr" in spectra.meta
            else spectra.snr()
        )
        fail(~(snr >= min_snr), lambda i: f"S/N {snr[i]:.1f} below {min_snr:g}")
    for name, limit in (max_label_err or {}).items():
        if name not in spectra.labels_err:
            raise ValueError(f"max_label_err: no uncertainty column for label {name!r}")
        err = spectra.labels_err[name]
        fail(
            ~(err <= limit),
            lambda i, e=err, nm=name, lim=limit: f"{nm}_err {e[i]:.3g} above {lim:g}",
        )
    if flag_column is not None:
        col = spectra.meta[flag_column]
        flagged = (
            (col.astype(str) != "") & (col.astype(str) != "0")
            if col.dtype.kind == "U"
            else (np.nan_to_num(col.astype(float)) != 0)
        )
        fail(flagged, lambda i: f"{flag_column} = {col[i]}")
    return keep, reasons
