"""``starlabel evaluate``: metrics table, CSV and plots for a catalogue vs a reference."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from .._atomic import atomic_path
from .._typing import PathLike
from ..inference.catalogue import read_catalogue_table
from ..spectra.io.hdf5 import read_dataset
from .metrics import LabelMetrics, evaluate, match_truth
from .plots.evaluation import plot_one_to_one, plot_residuals_vs_snr

__all__ = ["write_evaluation"]


def write_evaluation(
    catalogue: PathLike, truth: PathLike, out_dir: PathLike
) -> tuple[list[LabelMetrics], list[Path]]:
    """Compute the metrics and write ``metrics.csv``, ``one_to_one.png`` and
    ``residuals_vs_snr.png`` to ``out_dir``."""
    table = read_catalogue_table(catalogue)
    ref = read_dataset(truth)
    metrics = evaluate(table, ref)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    buf = io.StringIO()
    fields = list(metrics[0].as_dict())
    writer = csv.DictWriter(buf, fieldnames=fields)
    writer.writeheader()
    for m in metrics:
        writer.writerow(m.as_dict())
    with atomic_path(out / "metrics.csv") as tmp:
        tmp.write_text(buf.getvalue(), encoding="utf-8")
    files.append(out / "metrics.csv")

    rows = match_truth(table, ref)
    found = rows >= 0
    refs = [ref.labels[m.name][rows[found]] for m in metrics]
    preds = [np.asarray(table[m.name], dtype=float)[found] for m in metrics]
    fig, _ = plot_one_to_one(refs, preds, metrics)
    with atomic_path(out / "one_to_one.png") as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    files.append(out / "one_to_one.png")
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
    with atomic_path(out / "residuals_vs_snr.png") as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    files.append(out / "residuals_vs_snr.png")
    import matplotlib.pyplot as plt

    plt.close("all")
    return metrics, files
