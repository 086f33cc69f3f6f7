"""Predict a dataset file of any size batch by batch and write the catalogue."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Table, vstack

from .._typing import PathLike
from ..spectra.flags import Flag
from ..spectra.io.hdf5 import DatasetReader
from .catalogue import catalogue_format, write_catalogue

__all__ = ["predict_file"]


def predict_file(
    model,
    data: PathLike,
    output: PathLike,
    *,
    batch_size: int = 4096,
    progress: Callable[[int, int], None] | None = None,
    ood_score: Callable[[Any], np.ndarray] | None = None,
    **predict_options: Any,
) -> dict[str, int]:
    """Stream ``data`` through ``model`` and write the catalogue to ``output``.

    Memory stays bounded by ``batch_size`` spectra (plus the catalogue's own rows).
    A spectrum that cannot be processed (no usable pixel) gets NaN labels and the
    ``NOT_PROCESSED`` flag; predictions outside the training label range get
    ``OUTSIDE_TRAINING_RANGE``; flags already in the dataset are carried over.

    ``predict_options`` go to ``model.predict`` (e.g. ``mode="precision"`` for a cINN).
    ``ood_score(batch)`` adds an ``ood_score`` column; a score above 1 sets
    ``OUT_OF_DISTRIBUTION``.

    Returns:
        counts: ``n_spectra``, ``n_not_processed``, ``n_outside_range`` and, with
        ``ood_score``, ``n_ood``.
    """
    catalogue_format(output)  # fail before any work on a bad extension
    parts: list[Table] = []
    counts = {"n_spectra": 0, "n_not_processed": 0, "n_outside_range": 0}
    ranges = getattr(model, "label_range_", {}) or {}
    with DatasetReader(data) as reader:
        if len(reader) == 0:
            from ..errors import StarlabelInputError

            raise StarlabelInputError("the dataset holds no spectra", path=data)
        model.check_grid(reader.read(slice(0, min(1, len(reader)))), source=str(data))
        total = len(reader)
        for batch in reader.iter_batches(batch_size):
            pred = model.predict(batch, **predict_options)
            table = pred.to_table(batch.ids)
            flags = np.asarray(
                batch.meta.get("flag", np.zeros(batch.n_spectra)), dtype=np.int64
            ).copy()
            dead = ~np.isfinite(pred.mean).any(axis=1)
            flags[dead] |= Flag.NOT_PROCESSED
            outside = np.zeros(batch.n_spectra, dtype=bool)
            for k, name in enumerate(pred.label_names):
                if name in ranges:
                    lo, hi = ranges[name]
                    span = hi - lo
                    v = pred.mean[:, k]
                    outside |= np.isfinite(v) & (
                        (v < lo - 0.05 * span) | (v > hi + 0.05 * span)
                    )
            flags[outside] |= Flag.OUTSIDE_TRAINING_RANGE
            if ood_score is not None:
                score = np.asarray(ood_score(batch), dtype=np.float64)
                score[dead] = np.nan
                table["ood_score"] = score
                flags[score > 1] |= Flag.OUT_OF_DISTRIBUTION
                counts["n_ood"] = counts.get("n_ood", 0) + int((score > 1).sum())
            table["flag"] = flags
            parts.append(table)
            counts["n_spectra"] += batch.n_spectra
            counts["n_not_processed"] += int(dead.sum())
            counts["n_outside_range"] += int(outside.sum())
            if progress is not None:
                progress(batch.n_spectra, total)
    write_catalogue(
        vstack(parts, metadata_conflicts="silent") if len(parts) > 1 else parts[0],
        Path(output),
    )
    return counts
