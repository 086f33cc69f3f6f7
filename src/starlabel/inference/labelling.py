"""One batch of spectra -> catalogue rows: the model's prediction, the flags and the
counts a run reports. Shared by every way of running a prediction (one process, a
Dask worker, the per-star fit)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from astropy.table import Table

from ..models.base import EmulatingEstimator
from ..spectra.flags import Flag

__all__ = ["COUNT_KEYS", "add_counts", "catalogue_meta", "label_batch"]

#: The counts every run reports (summed over batches and chunks).
COUNT_KEYS = (
    "n_spectra",
    "n_not_processed",
    "n_outside_range",
    "n_no_err",
    "n_ood",
    "n_uncalibrated",
    "n_not_converged",
    "n_at_bound",
    "n_below_snr",
    "n_models_disagree",
)


def label_batch(
    model: Any,
    batch: Any,
    options: Any,
    *,
    predict: Callable[[Any, Any], Any] | None = None,
    ood_score: Callable[[Any], np.ndarray] | None = None,
) -> tuple[Table, dict[str, int]]:
    """The catalogue rows of ``batch`` and their counts.

    A spectrum that cannot be processed (no usable pixel) gets NaN labels and the
    ``NOT_PROCESSED`` flag; predictions more than 5 % of the span outside the
    training label range get ``OUTSIDE_TRAINING_RANGE``; a model or map OOD score
    above 1 sets ``OUT_OF_DISTRIBUTION``; flags already in the dataset are carried.

    Args:
        model: a fitted estimator.
        batch: a :class:`~starlabel.spectra.Spectra` batch.
        options: the model's predict options.
        predict: ``predict(batch, options) -> LabelPrediction`` instead of
            ``model.predict``.
        ood_score: ``ood_score(batch) -> (n,)`` of a similarity map (adds
            ``map_ood_score``).

    Returns:
        the rows (an astropy table) and the counts of :data:`COUNT_KEYS` (``n_ood``,
        ``n_uncalibrated``, ``n_below_snr``, ``n_models_disagree`` and the fit
        counts of an emulator only where they apply).
    """
    ranges = getattr(model, "label_range_", {}) or {}
    pred = (predict or model.predict)(batch, options)
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
    counts = {
        "n_spectra": batch.n_spectra,
        "n_not_processed": int(dead.sum()),
        "n_outside_range": int(outside.sum()),
        "n_no_err": int(
            (np.isfinite(pred.mean) & ~np.isfinite(pred.sigma_total)).any(axis=1).sum()
        ),
    }
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
        counts["n_ood"] = int(unlike.sum())
    if isinstance(model, EmulatingEstimator) and pred.flags is not None:
        fit = np.asarray(pred.flags, dtype=np.int64)
        counts["n_not_converged"] = int(((fit & Flag.FIT_NOT_CONVERGED) > 0).sum())
        counts["n_at_bound"] = int(((fit & Flag.FIT_AT_BOUND) > 0).sum())
    if pred.calibrated is None:
        counts["n_uncalibrated"] = int(np.isfinite(pred.mean).any(axis=1).sum())
    below = int(((flags & Flag.SNR_BELOW_CALIBRATION) > 0).sum())
    if below:  # like the other conditional counts: only where it applies
        counts["n_below_snr"] = below
    if "models_chi2" in pred.columns:
        counts["n_models_disagree"] = int(((flags & Flag.MODELS_DISAGREE) > 0).sum())
    table["flag"] = flags
    table["flag"].description = "bit mask of starlabel.spectra.Flag (README)"
    return table, counts


def add_counts(total: dict[str, int], counts: Mapping[str, int]) -> dict[str, int]:
    """Add ``counts`` into ``total`` (keys that only some batches have included)."""
    for key, value in counts.items():
        total[key] = total.get(key, 0) + int(value)
    return total


def catalogue_meta(
    model: Any, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The catalogue header: the model, its fingerprint, the training label ranges
    (``SLRNGn``: the report's OOD ROC uses them) and ``extra`` cards."""
    meta = {
        "SLMODEL": f"{model.kind} ({type(model).__name__})",
        "SLMODFP": getattr(model, "training_fingerprint_", ""),
    } | dict(extra or {})
    ranges = getattr(model, "label_range_", {}) or {}
    for k, (name, (lo, hi)) in enumerate(ranges.items(), start=1):
        meta[f"SLRNG{k}"] = f"{name} {lo:.6g} {hi:.6g}"
    return meta
