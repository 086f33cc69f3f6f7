"""``starlabel refine`` and ``predict --refine``: the per-star emulator fit of a
dataset file, started from another model's catalogue (or from that model run on the
same batch), streamed batch by batch into a catalogue with the refined labels, their
Laplace errors (calibrated), ``chi2``, ``fit_iter``, ``fit_converged``, the
starting values (``<name>_start``) and, where the start has errors, the two
models' consistency (``models_chi2``, flag ``MODELS_DISAGREE``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .._typing import PathLike
from ..errors import StarlabelInputError
from ..models.base import EmulatingEstimator, Estimator
from ..spectra.flags import Flag
from .catalogue import read_catalogue_table
from .consistency import MODELS_CHI2_NOTE, disagreement
from .stream import predict_file

__all__ = ["StartCatalogue", "refine_file", "start_from", "with_start"]


class StartCatalogue:
    """Starting labels for the emulator's labels, looked up by spectrum id.

    Labels of the emulator that the catalogue lacks (a CNN trained on fewer labels)
    and NaN values (stars the other model could not label) start from the best
    grid candidate instead.

    Raises:
        StarlabelInputError: the catalogue cannot be read, has none of the
            emulator's labels, or has an id twice.
    """

    def __init__(self, path: PathLike, label_names: tuple[str, ...]) -> None:
        self.path = Path(path)
        table = read_catalogue_table(self.path)
        self.used = [n for n in label_names if n in table.colnames]
        if not self.used:
            raise StarlabelInputError(
                f"the start catalogue has none of the emulator's labels "
                f"({', '.join(label_names)}); its columns: {', '.join(table.colnames[:12])}",
                path=self.path,
            )
        self.missing = [n for n in label_names if n not in table.colnames]
        ids = np.asarray(table["id"]).astype(str)
        self.row = {}
        for i, sid in enumerate(ids.tolist()):
            if sid in self.row:
                raise StarlabelInputError(
                    f"id appears twice (rows {self.row[sid] + 1} and {i + 1})",
                    path=self.path,
                    star=sid,
                )
            self.row[sid] = i
        self.values = np.full((len(table), len(label_names)), np.nan)
        self.errors = np.full_like(self.values, np.nan)  # NaN: no _err column
        for k, name in enumerate(label_names):
            if name in table.colnames:
                self.values[:, k] = np.asarray(table[name], dtype=float)
            if f"{name}_err" in table.colnames:
                self.errors[:, k] = np.asarray(table[f"{name}_err"], dtype=float)

    def for_batch(
        self, batch: Any, data: PathLike, first_row: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(n, n_labels)`` starts of a batch whose first spectrum is row
        ``first_row`` (0-based) of ``data``, and their errors; a star not in the
        catalogue is an error naming it and its row."""
        rows = np.empty(batch.n_spectra, dtype=int)
        for i, sid in enumerate(batch.ids.tolist()):
            r = self.row.get(sid)
            if r is None:
                raise StarlabelInputError(
                    f"not in the start catalogue {self.path} (row {first_row + i + 1} "
                    f"of the dataset); refine the catalogue predicted from this file",
                    path=data,
                    star=sid,
                )
            rows[i] = r
        return self.values[rows], self.errors[rows]


def start_from(pred: Any, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """``(x0, x0_err)``: another model's labels and errors in the emulator's label
    order ``names`` (NaN where that model has no such label)."""
    x0 = np.full((len(pred), len(names)), np.nan)
    x0_err = np.full_like(x0, np.nan)
    for k, name in enumerate(names):
        if name in pred.label_names:
            j = pred.label_names.index(name)
            x0[:, k] = pred.mean[:, j]
            x0_err[:, k] = pred.sigma_total[:, j]
    return x0, x0_err


def with_start(
    pred: Any, names: tuple[str, ...], x0: np.ndarray, x0_err: np.ndarray
) -> Any:
    """``pred`` with the start values as columns and, where the start has errors,
    the two models' ``models_chi2`` and ``MODELS_DISAGREE``."""
    cols = dict(pred.columns)
    notes = dict(pred.column_notes)
    for k, name in enumerate(names):
        if np.isfinite(x0[:, k]).any():
            cols[f"{name}_start"] = x0[:, k]
            notes[f"{name}_start"] = f"{name}: the start of the per-star fit"
    flags = pred.flags
    if np.isfinite(x0_err).any():
        chi2, disagree = disagreement(pred.mean, pred.sigma_total, x0, x0_err)
        cols["models_chi2"] = chi2
        notes["models_chi2"] = MODELS_CHI2_NOTE
        flags = np.zeros(len(chi2), np.int64) if flags is None else flags.copy()
        flags[disagree] |= Flag.MODELS_DISAGREE
    return dataclasses.replace(pred, columns=cols, column_notes=notes, flags=flags)


def refine_file(
    emulator: Any,
    data: PathLike,
    output: PathLike,
    *,
    start: PathLike | Any | None = None,
    options: Any = None,
    start_options: Any = None,
    progress: Callable[[int, int], None] | None = None,
    overwrite: bool = False,
) -> dict[str, int]:
    """Fit every spectrum of ``data`` with ``emulator`` and write the catalogue.

    Args:
        emulator: a fitted :class:`~starlabel.models.SpectrumEmulator`.
        data: dataset file (.h5).
        output: catalogue (.fits, .csv, .parquet); replaced only with ``overwrite``.
        start: catalogue of another model for the same file (by id), or a fitted
            model run on each batch first (``predict --refine``); None: every star
            starts from the emulator's grid of training labels.
        options: the emulator's predict options.
        start_options: the start model's predict options.
        progress: called with (spectra done in this batch, total).
        overwrite: replace an existing catalogue.

    Returns:
        the counts of :func:`predict_file`, plus ``n_not_converged`` and
        ``n_at_bound``.
    """
    if not isinstance(emulator, EmulatingEstimator):
        raise StarlabelInputError(
            f"refine needs an emulator model (starlabel train --model emulator); got "
            f"a {getattr(emulator, 'kind', type(emulator).__name__)} model"
        )
    options = options if options is not None else emulator.predict_options()
    names = emulator.label_names_
    from_model = isinstance(start, Estimator)
    starts = (
        StartCatalogue(start, names) if start is not None and not from_model else None
    )
    if from_model and not set(start.label_names_) & set(names):
        raise StarlabelInputError(
            f"the start model ({start.kind}) predicts none of the emulator's labels"
        )

    def fit_batch(batch: Any, opts: Any, first_row: int = 0) -> Any:
        x0 = x0_err = None
        if starts is not None:
            x0, x0_err = starts.for_batch(batch, data, first_row)
        elif from_model:
            x0, x0_err = start_from(start.predict(batch, start_options), names)
        pred = emulator.refine(batch, x0, opts)
        if x0 is not None:
            pred = with_start(pred, names, x0, x0_err)
        return pred

    where = (
        "grid"
        if start is None
        else f"model {start.kind}"
        if from_model
        else Path(start).name
    )
    meta = {"SLSTART": where}
    if start is None:
        key = {"start": "grid"}
    elif from_model:
        key = {
            "start": start.kind,
            "fingerprint": getattr(start, "training_fingerprint_", ""),
            "options": repr(start_options),
        }
    else:
        st = Path(start).stat()
        key = {"start": Path(start).name, "stamp": [st.st_size, st.st_mtime_ns]}
    counts = predict_file(
        emulator,
        data,
        output,
        options=options,
        progress=progress,
        predict=fit_batch,
        run_key=key,
        meta=meta,
        overwrite=overwrite,
    )
    counts.setdefault("n_not_converged", 0)
    counts.setdefault("n_at_bound", 0)
    return counts
