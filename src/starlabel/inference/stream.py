"""Predict one dataset file of any size and write the catalogue (the one-file form of
:func:`~starlabel.inference.runner.predict_survey`: resumable, bounded memory)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._typing import PathLike
from .labelling import COUNT_KEYS
from .runner import predict_survey

__all__ = ["predict_file"]


def predict_file(
    model,
    data: PathLike,
    output: PathLike,
    *,
    options: Any = None,
    progress: Callable[[int, int], None] | None = None,
    ood_score: Callable[[], Callable[[Any], np.ndarray]] | None = None,
    predict: Callable[..., Any] | None = None,
    run_key: dict[str, Any] | None = None,
    meta: dict[str, str] | None = None,
    chunk_size: int | None = None,
    overwrite: bool = False,
) -> dict[str, int]:
    """Stream ``data`` through ``model`` and write the catalogue to ``output``.

    Memory stays bounded by ``options.batch_size`` spectra and one chunk of
    catalogue rows. A spectrum that cannot be processed (no usable pixel) gets NaN
    labels and the ``NOT_PROCESSED`` flag; predictions outside the training label
    range get ``OUTSIDE_TRAINING_RANGE``; flags already in the dataset are carried
    over. The catalogue's metadata names the model and the input file with its
    fingerprint (``evaluate`` compares it with the truth file). Chunks are staged in
    ``OUTPUT.parts/`` while the run goes on (a rerun after a crash resumes) and
    removed once the catalogue is written.

    Args:
        model: a fitted estimator.
        data: dataset file (.h5).
        output: catalogue (.fits, .csv or .parquet); an existing file is replaced
            only with ``overwrite``.
        options: the model's predict options (``model.predict_options(...)``).
        progress: called with (spectra just finished, total) after each chunk.
        ood_score: a picklable factory of ``ood_score(batch) -> (n,)`` of a
            similarity map; adds a ``map_ood_score`` column, and a score above 1
            sets ``OUT_OF_DISTRIBUTION`` (as the model's own ``ood_score`` does).
        predict: ``predict(batch, options, first_row=...) -> LabelPrediction``
            instead of ``model.predict`` (the per-star fit from a start catalogue).
        run_key: what else the results depend on (a resumed run with another key
            starts afresh).
        meta: further catalogue metadata (FITS cards of <= 8 characters).
        chunk_size: rows per staged part.
        overwrite: replace an existing catalogue.

    Returns:
        counts: ``n_spectra``, ``n_not_processed``, ``n_outside_range``,
        ``n_no_err`` (rows whose ``_err`` is NaN for some label although a value was
        predicted), ``n_ood`` (flagged unlike the training set; when the model or
        ``ood_score`` gives a score) and ``n_uncalibrated`` (rows whose ``_err`` is
        not calibrated: the model has no calibration for these options).
    """
    counts = predict_survey(
        model,
        [data],
        output,
        options=options,
        chunk_size=chunk_size,
        ood=ood_score,
        predict=predict,
        run_key=run_key,
        meta=meta,
        source_column=False,
        keep_parts=False,
        progress=progress,
        overwrite=overwrite,
    )
    return {k: counts[k] for k in COUNT_KEYS if k in counts}
