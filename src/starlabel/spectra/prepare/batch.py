"""A batch of finished stars on the grid -> ``Spectra``: non-physical pixels
masked, flags set, catalogue labels joined, masked pixels filled, cuts applied."""

from __future__ import annotations

from typing import Any

import astropy.units as u
import numpy as np

from ..container import Spectra
from ..flags import Flag
from ..grids import Grid
from ..io.catalogue import LabelCatalogue
from ..io.registry import Rejected
from ..preprocess import fill_masked, nonphysical_flux, quality_mask
from .config import PrepareConfig, PrepareReport

__all__ = ["MANY_MASKED_FRACTION", "NOT_NORMALISED_FRACTION", "finish_batch"]

MANY_MASKED_FRACTION = 0.10
NOT_NORMALISED_FRACTION = 0.5


def finish_batch(
    ids: list[str],
    rows: list[tuple[np.ndarray, np.ndarray, np.ndarray, int]],
    sources: list[str],
    setups: list[str],
    grid: Grid,
    catalogue: LabelCatalogue | None,
    config: PrepareConfig,
    report: PrepareReport,
    reach: np.ndarray | None = None,
) -> Spectra | None:
    """The batch's spectra that pass the cuts (``None`` if none does); the others
    go to ``report.rejected`` with their reason."""
    flux = np.stack([r[0] for r in rows])
    ivar = np.stack([r[1] for r in rows])
    cov = np.stack([r[2] for r in rows])
    n_bad = np.array([r[3] for r in rows], dtype=np.int64)
    flags = np.zeros(len(ids), dtype=np.int64)
    flux, ivar, not_normalised = _mask_nonphysical(
        flux, ivar, n_bad, flags, report, config
    )
    # partial: missing pixels the star's setups could have covered (a named grid
    # may reach beyond its setups: HR21 starts at 8484 A, the Ambrosch grid at 8480)
    reach = np.ones(cov.shape[1], dtype=bool) if reach is None else reach
    flags[(~cov & reach).any(axis=1)] |= Flag.PARTIAL_COVERAGE
    flags[(ivar <= 0).mean(axis=1) > MANY_MASKED_FRACTION] |= Flag.MANY_MASKED
    labels, labels_err, meta = _columns(ids, sources, setups, catalogue, flags, report)
    sp = Spectra(
        fill_masked(flux, ivar, method=config.fill).astype(np.float32),
        grid.wavelength * u.AA,
        ivar.astype(np.float32),
        labels,
        labels_err=labels_err,
        meta=meta,
        medium=grid.medium,
        rest_frame=config.shift_rv,
        setup=grid.name,
    )
    snr = sp.snr()
    sp.meta["snr"] = snr
    keep, reasons = quality_mask(
        sp,
        min_snr=config.min_snr,
        max_label_err=config.max_label_err,
        flag_column=config.flag_column,
    )
    flags[~np.isfinite(snr)] |= Flag.NOT_PROCESSED
    sp.meta["flag"] = flags
    for i, why in not_normalised.items():
        keep[i] = False
        reasons[i] = why
    for i in np.flatnonzero(~keep):
        report.rejected.append(Rejected(sources[i], ids[i], reasons[i]))
    if not keep.any():
        return None
    sp = sp[keep]
    for bit in Flag:
        report.flag_counts[bit.name] += int(((sp.meta["flag"] & bit) != 0).sum())
    return sp


def _mask_nonphysical(
    flux: np.ndarray,
    ivar: np.ndarray,
    n_bad: np.ndarray,
    flags: np.ndarray,
    report: PrepareReport,
    config: PrepareConfig,
) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    """Mask flux outside [-1, 10] (on the grid the flux is continuum-normalised: the
    dataset reader's rule), flag and count it; a spectrum most of whose pixels fail
    is not normalised: ``{row: reason}`` for those (not counted as non-physical)."""
    data = ivar > 0
    bad = nonphysical_flux(flux, normalised=True) & data
    n_data = data.sum(axis=1)
    not_normalised = bad.sum(axis=1) > NOT_NORMALISED_FRACTION * np.maximum(n_data, 1)
    n_bad += np.where(not_normalised, 0, bad.sum(axis=1))
    ivar = np.where(bad, 0.0, ivar)
    flux = np.where(bad, np.nan, flux)
    flags[n_bad > 0] |= Flag.NONPHYSICAL_FLUX
    report.n_nonphysical += int(n_bad[~not_normalised].sum())
    hint = "; use --normalise" if config.normalise in ("none", "auto") else ""
    reasons = {
        int(i): (
            f"{bad[i].sum()} of {n_data[i]} pixels have flux outside [-1, 10]: the "
            "spectrum is not continuum-normalised" + hint
        )
        for i in np.flatnonzero(not_normalised)
    }
    return flux, ivar, reasons


def _columns(
    ids: list[str],
    sources: list[str],
    setups: list[str],
    catalogue: LabelCatalogue | None,
    flags: np.ndarray,
    report: PrepareReport,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, Any]]:
    """Labels, their errors and the meta columns: id, source, setup, and the
    catalogue's (a repeat takes its star's row); stars not found are flagged."""
    labels: dict[str, np.ndarray] = {}
    labels_err: dict[str, np.ndarray] = {}
    meta: dict[str, Any] = {
        "id": np.asarray(ids),
        "source": np.asarray(sources),
        "setup": np.asarray(setups),
    }
    if catalogue is not None:
        stars = [report.repeat_of.get(i, i) for i in ids]
        labels, labels_err, cat_meta, found = catalogue.take(stars)
        flags[~found] |= Flag.NO_LABELS
        report.n_without_labels += int((~found).sum())
        meta.update(cat_meta)
    return labels, labels_err, meta
