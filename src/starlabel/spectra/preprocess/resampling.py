"""Flux-conserving resampling with inverse-variance propagation."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..grids import Grid, bin_edges, split_segments

__all__ = ["overlap_matrix", "resample", "resample_to_grid"]


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
