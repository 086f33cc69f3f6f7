"""The OOD score of a catalogue: its distribution, flagged and not, and its ROC
curves against stars known to be unlike the training set."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .spectra import _agg

__all__ = ["plot_ood"]


def plot_ood(
    score: np.ndarray,
    rocs: Mapping[str, tuple[np.ndarray, np.ndarray, float]],
    *,
    threshold: float = 1.0,
) -> tuple[Any, Any]:
    """Left: histogram of ``log10 ood_score`` for unflagged (grey) and flagged (red)
    stars with the threshold; right (when ``rocs`` is not empty): ROC curves
    ``{name: (false-positive rate, true-positive rate, AUROC)}``."""
    plt = _agg()
    ncols = 2 if rocs else 1
    fig, axes = plt.subplots(
        1, ncols, figsize=(4.6 * ncols, 3.6), constrained_layout=True, squeeze=False
    )
    ax = axes[0, 0]
    s = np.asarray(score, dtype=float)
    s = s[np.isfinite(s) & (s > 0)]
    logs = np.log10(s)
    if logs.size:
        lo, hi = min(logs.min(), -1.0), max(logs.max(), 0.5)
        bins = np.linspace(lo, hi, 41)
        flagged = s > threshold
        ax.hist(
            logs[~flagged],
            bins=bins,
            color="0.6",
            label=f"unflagged ({int((~flagged).sum())})",
        )
        ax.hist(
            logs[flagged],
            bins=bins,
            color="C3",
            label=f"flagged ({int(flagged.sum())})",
        )
    ax.axvline(np.log10(threshold), color="k", ls="--", lw=1, label="threshold")
    ax.set(xlabel="log10 ood_score [dimensionless]", ylabel="stars", title="OOD score")
    ax.set_yscale("log")
    ax.legend(fontsize=7)
    if rocs:
        ax = axes[0, 1]
        ax.plot([0, 1], [0, 1], color="0.6", ls=":", lw=1, label="chance")
        for name, (fpr, tpr, auc) in rocs.items():
            ax.plot(fpr, tpr, label=f"{name} (AUROC {auc:.2f})")
        ax.set(
            xlabel="false-positive rate",
            ylabel="true-positive rate",
            xlim=(0, 1),
            ylim=(0, 1),
            title="ROC of ood_score",
        )
        ax.legend(fontsize=7, loc="lower right")
    return fig, axes
