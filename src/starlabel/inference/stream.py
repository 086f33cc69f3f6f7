"""Predict a dataset file of any size batch by batch and write the catalogue."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Table, vstack

from .._atomic import check_output
from .._typing import PathLike
from ..errors import StarlabelInputError
from ..spectra.flags import Flag
from ..spectra.io.hdf5 import DatasetReader, dataset_fingerprint
from .catalogue import CATALOGUE_SUFFIXES, write_catalogue

__all__ = ["predict_file"]


def predict_file(
    model,
    data: PathLike,
    output: PathLike,
    *,
    options: Any = None,
    progress: Callable[[int, int], None] | None = None,
    ood_score: Callable[[Any], np.ndarray] | None = None,
    predict: Callable[[Any, Any], Any] | None = None,
    meta: dict[str, str] | None = None,
    overwrite: bool = False,
) -> dict[str, int]:
    """Stream ``data`` through ``model`` and write the catalogue to ``output``.

    Memory stays bounded by ``options.batch_size`` spectra (plus the catalogue's
    own rows). A spectrum that cannot be processed (no usable pixel) gets NaN
    labels and the ``NOT_PROCESSED`` flag; predictions outside the training label
    range get ``OUTSIDE_TRAINING_RANGE``; flags already in the dataset are carried
    over. The catalogue's metadata names the model and the input file with its
    fingerprint (``evaluate`` compares it with the truth file).

    Args:
        model: a fitted estimator.
        data: dataset file (.h5).
        output: catalogue (.fits, .csv or .parquet); an existing file is replaced
            only with ``overwrite``.
        options: the model's predict options (``model.predict_options(...)``).
        progress: called with (spectra done in this batch, total).
        ood_score: ``ood_score(batch) -> (n,)`` of a similarity map; adds a
            ``map_ood_score`` column, and a score above 1 sets
            ``OUT_OF_DISTRIBUTION`` (as the model's own ``ood_score`` does).
        predict: ``predict(batch, options) -> LabelPrediction`` instead of
            ``model.predict`` (the per-star fit from a start catalogue).
        meta: further catalogue metadata (FITS cards of <= 8 characters).
        overwrite: replace an existing catalogue.

    Returns:
        counts: ``n_spectra``, ``n_not_processed``, ``n_outside_range``,
        ``n_no_err`` (rows whose ``_err`` is NaN for some label although a value was
        predicted), ``n_ood`` (flagged unlike the training set; when the model or
        ``ood_score`` gives a score) and ``n_uncalibrated`` (rows whose ``_err`` is
        not calibrated: the model has no calibration for these options).
    """
    check_output(output, overwrite=overwrite, suffixes=CATALOGUE_SUFFIXES)
    if options is None:
        options = model.predict_options()
    parts: list[Table] = []
    counts = {"n_spectra": 0, "n_not_processed": 0, "n_outside_range": 0, "n_no_err": 0}
    ranges = getattr(model, "label_range_", {}) or {}
    with DatasetReader(data) as reader:
        if len(reader) == 0:
            raise StarlabelInputError("the dataset holds no spectra", path=data)
        model.check_grid(reader.read(slice(0, 1)), source=str(data))
        total = len(reader)
        fingerprint = dataset_fingerprint(reader)
        for batch in reader.iter_batches(options.batch_size):
            try:
                pred = (predict or model.predict)(batch, options)
            except StarlabelInputError as exc:
                raise exc.with_context(path=data) from exc
            table = pred.to_table(batch.ids)
            flags = np.asarray(
                batch.meta.get("flag", np.zeros(batch.n_spectra)), dtype=np.int64
            ).copy()
            dead = ~np.isfinite(pred.mean).any(axis=1)
            flags[dead] |= Flag.NOT_PROCESSED
            if pred.flags is not None:
                flags |= np.asarray(pred.flags, dtype=np.int64)
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
            unlike = np.zeros(batch.n_spectra, dtype=bool)
            if pred.ood_score is not None:
                unlike |= np.nan_to_num(pred.ood_score, nan=0.0) > 1
            if ood_score is not None:
                score = np.asarray(ood_score(batch), dtype=np.float64)
                score[dead] = np.nan
                table["map_ood_score"] = score
                table["map_ood_score"].description = (
                    "distance to the training set in the similarity map's PCA space; "
                    "> 1: unlike the training set"
                )
                unlike |= np.nan_to_num(score, nan=0.0) > 1
            if pred.ood_score is not None or ood_score is not None:
                flags[unlike] |= Flag.OUT_OF_DISTRIBUTION
                counts["n_ood"] = counts.get("n_ood", 0) + int(unlike.sum())
            if pred.calibrated is None:
                counts["n_uncalibrated"] = counts.get("n_uncalibrated", 0) + int(
                    np.isfinite(pred.mean).any(axis=1).sum()
                )
            table["flag"] = flags
            table["flag"].description = "bit mask of starlabel.spectra.Flag (README)"
            parts.append(table)
            no_err = np.isfinite(pred.mean) & ~np.isfinite(pred.sigma_total)
            counts["n_spectra"] += batch.n_spectra
            counts["n_not_processed"] += int(dead.sum())
            counts["n_outside_range"] += int(outside.sum())
            counts["n_no_err"] += int(no_err.any(axis=1).sum())
            if progress is not None:
                progress(batch.n_spectra, total)
    table = vstack(parts, metadata_conflicts="silent") if len(parts) > 1 else parts[0]
    table.meta.update(
        {
            "SLMODEL": f"{model.kind} ({type(model).__name__})",
            "SLMODFP": getattr(model, "training_fingerprint_", ""),
            "SLINPUT": Path(data).name,
            "SLINFP": fingerprint,
        }
        | dict(meta or {})
    )
    # the training label ranges, one card each: the report's OOD ROC uses them
    for k, (name, (lo, hi)) in enumerate(ranges.items(), start=1):
        table.meta[f"SLRNG{k}"] = f"{name} {lo:.6g} {hi:.6g}"

    write_catalogue(table, Path(output), overwrite=overwrite)
    return counts
