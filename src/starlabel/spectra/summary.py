"""A dataset file summarised without loading its spectra all at once."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._typing import PathLike
from .flags import Flag
from .grids import split_segments
from .io.hdf5 import DatasetReader

__all__ = ["DatasetSummary", "LabelSummary", "summarise_dataset"]


@dataclass(frozen=True)
class LabelSummary:
    name: str
    unit: str
    n_known: int
    minimum: float
    median: float
    maximum: float


@dataclass(frozen=True)
class DatasetSummary:
    path: Path
    n_spectra: int
    n_pixels: int
    segments: list[tuple[float, float, int]]
    medium: str
    rest_frame: bool
    setup: str
    labels: list[LabelSummary]
    snr_quartiles: tuple[float, float, float]
    masked_fraction: float
    flag_counts: dict[str, int] = field(default_factory=dict)
    #: spectra with every pixel masked: their S/N is undefined (not in the quartiles)
    n_fully_masked: int = 0


def summarise_dataset(path: PathLike, *, batch_size: int = 2048) -> DatasetSummary:
    """Counts, grid segments, label ranges, S/N quartiles, masked fraction and flags."""
    with DatasetReader(path) as r:
        wl = r.wavelength_aa
        segments = [
            (float(s[0]), float(s[-1]), int(s.size)) for s in split_segments(wl)
        ]
        labels = []
        for name in r.label_names:
            values = r.label_column(name)
            known = values[np.isfinite(values)]
            unit = r.label_unit(name)
            stats = (
                (np.min(known), np.median(known), np.max(known))
                if known.size
                else (np.nan,) * 3
            )
            labels.append(LabelSummary(name, unit, int(known.size), *map(float, stats)))
        snr_parts, masked, total, n_fully_masked = [], 0, 0, 0
        for batch in r.iter_batches(batch_size):
            snr = (
                batch.meta["snr"].astype(float) if "snr" in batch.meta else batch.snr()
            )
            empty = batch.mask.all(axis=1)
            n_fully_masked += int(empty.sum())
            snr_parts.append(np.where(empty, np.nan, snr))
            masked += int(batch.mask.sum())
            total += batch.mask.size
        snr = np.concatenate(snr_parts) if snr_parts else np.array([])
        snr = snr[np.isfinite(snr)]
        quartiles = (
            tuple(float(q) for q in np.percentile(snr, [25, 50, 75]))
            if snr.size
            else (np.nan,) * 3
        )
        flag_counts = {}
        if "flag" in r.meta_names:
            flags = r.meta_column("flag").astype(np.int64)
            flag_counts = {
                b.name: int(((flags & b) != 0).sum())
                for b in Flag
                if ((flags & b) != 0).any()
            }
        attrs = r.attrs
        return DatasetSummary(
            path=Path(path),
            n_spectra=len(r),
            n_pixels=r.n_pixels,
            segments=segments,
            medium=str(attrs.get("medium", "")),
            rest_frame=bool(attrs.get("rest_frame", True)),
            setup=str(attrs.get("setup", "")),
            labels=labels,
            snr_quartiles=quartiles,  # type: ignore[arg-type]
            masked_fraction=masked / total if total else float("nan"),
            flag_counts=flag_counts,
            n_fully_masked=n_fully_masked,
        )
