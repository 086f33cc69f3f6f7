"""One raw spectrum onto the grid, and the setups of one star joined.

The chain, per raw spectrum: mask non-physical flux -> clean spikes and bad pixels
-> continuum normalisation (optional) -> convert to the grid's medium -> shift to
the rest frame (catalogue RV) -> flux-conserving resampling onto the grid.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from ...errors import StarlabelInputError
from ..grids import Grid, split_segments
from ..io.registry import Rejected
from ..preprocess import (
    clean_spikes,
    nonphysical_flux,
    normalise_continuum,
    resample_to_grid,
    shift_to_rest,
)
from ..raw import RawSpectrum
from .config import PrepareConfig
from .grid import to_medium

__all__ = ["default_normalise", "join_setups", "process_raws"]


def _in_medium(raw: RawSpectrum, medium: str) -> np.ndarray:
    return to_medium(raw.wavelength, raw.medium, medium)


def default_normalise(format: str | None) -> str:
    """The continuum normalisation of ``normalise="auto"`` for a reader's spectra."""
    from ..io.registry import READERS, _load_builtin_readers

    _load_builtin_readers()
    info = READERS.get(format or "")
    return info.normalise if info is not None else "none"


def _method(raw: RawSpectrum, config: PrepareConfig) -> str:
    if config.normalise != "auto":
        return config.normalise
    return default_normalise(raw.meta.get("format"))


def _process_raw(raw: RawSpectrum, grid: Grid, config: PrepareConfig, rv: float | None):
    """One raw spectrum onto the grid: (flux, ivar, coverage, n non-physical pixels).

    The coverage is that of the observed wavelength range (before the shift to the
    rest frame): the pixels a shift moves off the edge are masked, not missing.
    """
    flux, ivar = raw.flux, raw.ivar
    bad = nonphysical_flux(flux, normalised=False)
    # NaN is how readers and archives deliver a missing pixel (dead column, gap):
    # masked like any other, not counted; infinities and absurd values are faults.
    n_bad = int((bad & ~np.isnan(flux)).sum())
    if bad.any():
        # NaN flux with ivar 0: cleaning replaces it, resampling gives it no weight.
        flux = np.where(bad, np.nan, flux)
        ivar = np.where(bad, 0.0, ivar)
    if config.clean:
        flux, ivar = clean_spikes(flux, ivar, n_sigma=config.spike_sigma)
    method = _method(raw, config)
    if method != "none":
        flux, ivar, _ = normalise_continuum(raw.wavelength, flux, ivar, method=method)
    observed = _in_medium(raw, grid.medium)
    wl = observed if rv is None else shift_to_rest(observed, rv)
    fo, io, _ = resample_to_grid(wl, flux, ivar, grid, min_coverage=config.min_coverage)
    # Which grid pixels the spectrum's wavelength range reaches (gaps excluded),
    # as opposed to pixels masked for bad data.
    target = grid.wavelength
    co = np.zeros(target.size, dtype=bool)
    for seg in split_segments(observed):
        co |= (target >= seg[0]) & (target <= seg[-1])
    if not np.any(io > 0):
        lo, hi = wl[0], wl[-1]
        span = ", ".join(f"{g[0]:.1f}-{g[-1]:.1f}" for g in grid.segments)
        if (hi < target[0]) or (lo > target[-1]) or not co.any():
            raise raw.fail(
                f"spectrum covers {lo:.1f}-{hi:.1f} A, which does not overlap the "
                f"grid ({span} A)"
            )
        raise raw.fail(
            f"no usable pixel on the grid ({span} A): every pixel of the spectrum "
            f"there ({lo:.1f}-{hi:.1f} A) is masked (zero, non-finite or without "
            "noise); wrong --format?"
        )
    return fo, io, co, n_bad


def join_setups(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, int]]):
    """Inverse-variance weighted mean of several setups on the same grid."""
    if len(parts) == 1:
        return parts[0]
    f = np.stack([p[0] for p in parts])
    iv = np.stack([p[1] for p in parts])
    cov = np.any(np.stack([p[2] for p in parts]), axis=0)
    n_bad = sum(p[3] for p in parts)
    w = np.where(iv > 0, iv, 0.0)
    wsum = w.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        flux = np.where(
            wsum > 0, np.nansum(np.where(w > 0, f, 0.0) * w, axis=0) / wsum, np.nan
        )
    return flux, wsum, cov, n_bad


def process_raws(
    raws: Iterable[RawSpectrum],
    grid: Grid,
    config: PrepareConfig,
    rv_of: Callable[[RawSpectrum], float | None],
    rejected: list[Rejected],
) -> Iterator[tuple[str, Any, str, str]]:
    """(id, resampled row or None, source file name, setup) per raw spectrum, lazily
    (a file of 10^5 spectra is never held whole in this process)."""
    for raw in raws:
        try:
            result = _process_raw(raw, grid, config, rv_of(raw))
        except StarlabelInputError as err:
            rejected.append(
                Rejected.from_error(err.with_context(path=raw.source, star=raw.id))
            )
            result = None
        yield raw.id, result, raw.source.name, raw.setup
