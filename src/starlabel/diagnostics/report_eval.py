"""``starlabel evaluate``: metrics table, CSV and plots for a catalogue vs a reference."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_path, check_output_dir
from .._staging import staged_dir
from .._typing import PathLike
from ..errors import StarlabelInputError
from ..inference.catalogue import read_catalogue_table
from ..models.base import PosteriorEstimator
from ..spectra.container import Spectra
from ..spectra.io.hdf5 import dataset_fingerprint, read_dataset
from .calibration import LEVELS, coverage_from_samples, coverage_gaussian, sbc_ranks
from .leakage import Leakage, leakage
from .metrics import (
    BinCalibration,
    LabelMetrics,
    binned_calibration,
    evaluate,
    match_truth,
)
from .plots.evaluation import (
    plot_coverage,
    plot_one_to_one,
    plot_reliability,
    plot_residuals_vs_snr,
    plot_sbc_ranks,
)

__all__ = ["Evaluation", "truth_note", "write_evaluation"]


@dataclass(frozen=True)
class Evaluation:
    """What :func:`write_evaluation` computed and wrote.

    Attributes:
        metrics: per label.
        bins: calibration per label overall and per S/N and Teff bin.
        files: written.
        note: set when the truth is not the file the catalogue was predicted from.
        leakage: per abundance, its slope on its own truth and the top leak
            (:mod:`starlabel.diagnostics.leakage`).
    """

    metrics: list[LabelMetrics]
    bins: list[BinCalibration]
    files: list[Path]
    note: str | None
    leakage: list[Leakage] = ()


def truth_note(catalogue_table: Any, truth: PathLike, n_matched: int) -> str | None:
    """A one-line note when ``truth`` is not the file the catalogue was predicted
    from (catalogue metadata ``SLINFP``); ``None`` when it is, or when the
    catalogue does not say."""
    meta = {str(k).upper(): v for k, v in catalogue_table.meta.items()}
    recorded = meta.get("SLINFP")
    if not recorded or dataset_fingerprint(truth) == recorded:
        return None
    return (
        f"{truth} is not the file the catalogue was predicted from "
        f"({meta.get('SLINPUT', '?')}); stars were matched by id: {n_matched} of "
        f"{len(catalogue_table)} found"
    )


def write_evaluation(
    catalogue: PathLike,
    truth: PathLike,
    out_dir: PathLike,
    *,
    model: Any = None,
    n_draws: int = 100,
    seed: int = 0,
    overwrite: bool = False,
) -> Evaluation:
    """Compute the metrics and write ``metrics.csv``, ``calibration_bins.csv``
    (z std and coverage overall and per S/N and Teff bin, of ``_err`` and
    ``_err_raw``), ``one_to_one.png``, ``residuals_vs_snr.png`` and ``coverage.png``
    (Gaussian intervals from the catalogue's ``<name>_err``, and from ``_err_raw``
    where the catalogue has it: the reliability diagram before and after the
    calibration) to ``out_dir``. With a posterior ``model`` (a
    :class:`~starlabel.models.PosteriorEstimator`), also ``sbc_ranks.png`` and ``coverage_posterior.png`` from
    ``n_draws`` posterior draws of each reference spectrum. ``out_dir`` must be new,
    empty, or (with ``overwrite``) an earlier output of starlabel evaluate; the
    folder appears complete or not at all (:func:`starlabel._staging.staged_dir`).

    Returns:
        an :class:`Evaluation`.

    Raises:
        StarlabelInputError: no star of the catalogue is in the truth file.
    """
    out = check_output_dir(out_dir, overwrite=overwrite, command="evaluate")
    table = read_catalogue_table(catalogue)
    ref = read_dataset(truth)
    try:
        rows = match_truth(table, ref)
    except StarlabelInputError as exc:
        raise StarlabelInputError(
            f"no star of the catalogue {catalogue} is in the truth file (ids differ: "
            "another run or survey?)",
            path=truth,
        ) from exc
    found = rows >= 0
    metrics = evaluate(table, ref)
    leaks = catalogue_leakage(table, ref, rows)
    with staged_dir(out, command="evaluate") as stage:
        files = []
        files.append(_write_csv(stage / "metrics.csv", [m.as_dict() for m in metrics]))
        if leaks:
            files.append(
                _write_csv(stage / "leakage.csv", [r.as_dict() for r in leaks])
            )
        bins = binned_calibration(table, ref)
        if bins:
            files.append(
                _write_csv(stage / "calibration_bins.csv", [b.as_dict() for b in bins])
            )

        refs = [ref.labels[m.name][rows[found]] for m in metrics]
        preds = [np.asarray(table[m.name], dtype=float)[found] for m in metrics]
        fig, _ = plot_one_to_one(refs, preds, metrics)
        files.append(_save(fig, stage / "one_to_one.png"))
        snr = (
            ref.meta["snr"][rows[found]].astype(float)
            if "snr" in ref.meta
            else ref[rows[found]].snr()
        )
        sig = [
            np.asarray(table[f"{m.name}_err"], dtype=float)[found]
            if f"{m.name}_err" in table.colnames
            else None
            for m in metrics
        ]
        fig, _ = plot_residuals_vs_snr(
            snr, [p - r for p, r in zip(preds, refs, strict=True)], sig, metrics
        )
        files.append(_save(fig, stage / "residuals_vs_snr.png"))
        names = [m.name for m in metrics]
        value = np.stack(preds, axis=1)
        truth_values = np.stack(refs, axis=1)
        sigma = np.stack(
            [sg if sg is not None else np.full(value.shape[0], np.nan) for sg in sig],
            axis=1,
        )
        if np.isfinite(sigma).any():
            cov = coverage_gaussian(value, sigma, truth_values)
            raw_cols = [f"{n}_err_raw" for n in names]
            if all(c in table.colnames for c in raw_cols):
                raw = np.stack(
                    [np.asarray(table[c], dtype=float)[found] for c in raw_cols], axis=1
                )
                before = coverage_gaussian(value, raw, truth_values)
                before[:, ~np.isfinite(raw).any(axis=0)] = np.nan  # no raw error
                fig, _ = plot_reliability(LEVELS, before, cov, names)
            else:
                fig, _ = plot_coverage(
                    LEVELS, cov, names, title="coverage of value +- z err"
                )
            files.append(_save(fig, stage / "coverage.png"))
        if isinstance(model, PosteriorEstimator):
            # the stars of the catalogue only (the reference may hold the training set too)
            files += _posterior_calibration(
                model, ref[rows[found]], stage, n_draws, seed
            )
        import matplotlib.pyplot as plt

        plt.close("all")
    files = [out / f.relative_to(stage) for f in files]
    note = truth_note(table, truth, int(found.sum()))
    return Evaluation(metrics, bins, files, note, leaks)


def catalogue_leakage(table: Any, ref: Spectra, rows: np.ndarray) -> list[Leakage]:
    """The leakage of every abundance in the catalogue, regressed on every label
    of the reference (``rows``: the reference row of each catalogue row, -1 where
    absent), with the reference's Cramer-Rao bounds where it has them."""
    found = rows >= 0
    pred = {
        n: np.asarray(table[n], dtype=float)[found]
        for n in ref.label_names
        if n in table.colnames
    }
    truth = {n: ref.labels[n][rows[found]] for n in ref.label_names}
    crlb = {n: v[rows[found]] for n, v in ref.labels_crlb.items()}
    return leakage(pred, truth, crlb)


def _write_csv(path: Path, rows: list[dict]) -> Path:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    with atomic_path(path) as tmp:
        tmp.write_text(buf.getvalue(), encoding="utf-8")
    return path


def _save(fig: Any, path: Path) -> Path:
    from .plots._save import save_png

    return save_png(fig, path, dpi=100)


def _posterior_calibration(
    model: Any, ref: Spectra, out: Path, n_draws: int, seed: int
) -> list[Path]:
    """SBC rank histograms and the expected-coverage curve of posterior draws."""
    names = [n for n in model.label_names_ if n in ref.labels]
    cols = [model.label_names_.index(n) for n in names]
    draws = model.sample(ref, n_samples=n_draws, seed=seed)[:, :, cols]
    truth = np.stack([ref.labels[n] for n in names], axis=1)
    truth[~np.isfinite(draws).all(axis=(1, 2))] = np.nan
    fig, _ = plot_sbc_ranks(sbc_ranks(draws, truth), n_draws, names)
    files = [_save(fig, out / "sbc_ranks.png")]
    cov = coverage_from_samples(draws, truth)
    fig, _ = plot_coverage(LEVELS, cov, names, title="coverage of posterior intervals")
    files.append(_save(fig, out / "coverage_posterior.png"))
    with atomic_path(out / "coverage_posterior.csv") as tmp:
        rows = ["level," + ",".join(names)] + [
            f"{p:.2f}," + ",".join(f"{c:.4f}" for c in row)
            for p, row in zip(LEVELS, cov, strict=True)
        ]
        tmp.write_text("\n".join(rows) + "\n", encoding="utf-8")
    files.append(out / "coverage_posterior.csv")
    return files
