"""One-to-one density plots and residuals against S/N (the papers' validation figures)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..metrics import LabelMetrics
from .spectra import _agg

__all__ = [
    "plot_coverage",
    "plot_one_to_one",
    "plot_residuals_vs_snr",
    "plot_sbc_ranks",
]


def _axes_label(name: str, unit: str) -> str:
    return f"{name} [{unit}]" if unit else name


def plot_one_to_one(
    reference: Sequence[np.ndarray],
    predicted: Sequence[np.ndarray],
    metrics: Sequence[LabelMetrics],
    *,
    fig: Any = None,
) -> tuple[Any, Any]:
    """Predicted vs reference, one panel per label, density-coloured, with bias,
    std, p15 and p85 of the residuals printed in each panel."""
    plt = _agg()
    n = len(metrics)
    cols = min(n, 3)
    rows = int(np.ceil(n / cols))
    if fig is None:
        fig = plt.figure(figsize=(4.6 * cols, 4.2 * rows))
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax, ref, pred, m in zip(axes, reference, predicted, metrics, strict=False):
        ok = np.isfinite(ref) & np.isfinite(pred)
        lo = np.nanmin(np.concatenate([ref[ok], pred[ok]])) if ok.any() else 0.0
        hi = np.nanmax(np.concatenate([ref[ok], pred[ok]])) if ok.any() else 1.0
        if ok.sum() > 50:
            ax.hexbin(
                ref[ok],
                pred[ok],
                gridsize=40,
                mincnt=1,
                cmap="viridis",
                bins="log",
                extent=(lo, hi, lo, hi),
            )
        else:
            ax.scatter(ref[ok], pred[ok], s=8)
        ax.plot([lo, hi], [lo, hi], color="red", lw=0.8)
        unit = f" {m.unit}" if m.unit else ""
        text = (
            f"N = {m.n}\nbias = {m.bias:.3g}{unit}\nstd = {m.std:.3g}{unit}\n"
            f"p15 = {m.p15:.3g}, p85 = {m.p85:.3g}"
        )
        if np.isfinite(m.sigma_over_crlb):
            text += f"\nstd/CRLB = {m.sigma_over_crlb:.2f}"
        ax.text(
            0.03,
            0.97,
            text,
            transform=ax.transAxes,
            va="top",
            fontsize=8,
            bbox=dict(boxstyle="round", fc="white", alpha=0.8),
        )
        ax.set_xlabel(f"reference {_axes_label(m.name, m.unit)}")
        ax.set_ylabel(f"predicted {_axes_label(m.name, m.unit)}")
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig, axes


def plot_residuals_vs_snr(
    snr: np.ndarray,
    residuals: Sequence[np.ndarray],
    sigmas: Sequence[np.ndarray | None],
    metrics: Sequence[LabelMetrics],
    *,
    fig: Any = None,
) -> tuple[Any, Any]:
    """Residuals (points) and the predicted uncertainty (running median) against S/N."""
    plt = _agg()
    n = len(metrics)
    if fig is None:
        fig = plt.figure(figsize=(5.5, 2.6 * n))
    axes = np.atleast_1d(fig.subplots(n, 1, squeeze=False)).ravel()
    for ax, res, sig, m in zip(axes, residuals, sigmas, metrics, strict=True):
        ok = np.isfinite(res) & np.isfinite(snr)
        ax.scatter(snr[ok], res[ok], s=3, alpha=0.4, color="0.3", label="residual")
        if sig is not None and ok.sum() > 10 and np.isfinite(np.asarray(sig)[ok]).any():
            order = np.argsort(snr[ok])
            s_sorted = np.asarray(sig)[ok][order]
            x = snr[ok][order]
            k = max(5, ok.sum() // 20)
            windows = [s_sorted[max(0, i - k) : i + k] for i in range(x.size)]
            run = np.array(
                [
                    np.median(w[np.isfinite(w)]) if np.isfinite(w).any() else np.nan
                    for w in windows
                ]
            )
            ax.plot(x, run, color="C1", label="+/- predicted sigma (running median)")
            ax.plot(x, -run, color="C1")
        ax.axhline(0, color="red", lw=0.6)
        ax.set_xscale("log")
        ax.set_ylabel(f"residual {_axes_label(m.name, m.unit)}")
    axes[-1].set_xlabel("S/N per pixel")
    axes[0].legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return fig, axes


def plot_coverage(
    levels: np.ndarray, coverage: np.ndarray, names: Sequence[str], *, title: str = ""
) -> tuple[Any, Any]:
    """Empirical vs nominal coverage of central intervals, one line per label; the
    diagonal is perfect calibration (above: uncertainties too large, below: too small)."""
    plt = _agg()
    fig, ax = plt.subplots(figsize=(4.5, 4.5), constrained_layout=True)
    ax.plot([0, 100], [0, 100], color="0.5", lw=1, ls="--", label="calibrated")
    for k, name in enumerate(names):
        ax.plot(100 * levels, 100 * coverage[:, k], marker="o", ms=3, label=name)
    ax.set(
        xlabel="nominal central interval [%]",
        ylabel="stars whose truth lies inside [%]",
        xlim=(0, 100),
        ylim=(0, 100),
        title=title or "expected coverage",
    )
    ax.legend(fontsize=7)
    return fig, ax


def plot_reliability(
    levels: np.ndarray,
    before: np.ndarray,
    after: np.ndarray,
    names: Sequence[str],
    *,
    title: str = "reliability: before (dashed) and after (solid) calibration",
) -> tuple[Any, Any]:
    """Reliability diagram: empirical vs nominal coverage of Gaussian intervals from
    the raw (dashed) and the calibrated (solid) errors, one colour per label."""
    plt = _agg()
    fig, ax = plt.subplots(figsize=(4.8, 4.8), constrained_layout=True)
    ax.plot([0, 100], [0, 100], color="0.5", lw=1, ls=":", label="calibrated")
    for k, name in enumerate(names):
        (line,) = ax.plot(100 * levels, 100 * after[:, k], marker="o", ms=3, label=name)
        if np.isfinite(before[:, k]).any():
            ax.plot(100 * levels, 100 * before[:, k], ls="--", color=line.get_color())
    ax.set(
        xlabel="nominal central interval [%]",
        ylabel="stars whose truth lies inside [%]",
        xlim=(0, 100),
        ylim=(0, 100),
        title=title,
    )
    ax.title.set_fontsize(8)
    ax.legend(fontsize=7)
    return fig, ax


def plot_sbc_ranks(
    ranks: np.ndarray, n_draws: int, names: Sequence[str], *, bins: int = 20
) -> tuple[Any, Any]:
    """Histogram of the truth's rank among the posterior draws per label, with the
    99 % band of a uniform histogram: a U shape means posteriors too narrow, a hump
    too wide, a slope a bias."""
    from scipy import stats

    plt = _agg()
    n = len(names)
    fig, axes = plt.subplots(1, n, figsize=(3.0 * n, 2.8), constrained_layout=True)
    axes = np.atleast_1d(axes)
    for k, (ax, name) in enumerate(zip(axes, names, strict=True)):
        r = ranks[:, k][ranks[:, k] >= 0]
        edges = np.linspace(0, n_draws + 1, bins + 1)
        ax.hist(r, bins=edges, color="C0", alpha=0.8)
        lo, hi = stats.binom.ppf([0.005, 0.995], max(r.size, 1), 1 / bins)
        ax.axhspan(lo, hi, color="0.5", alpha=0.3, lw=0)
        ax.set(xlabel=f"rank of true {name} among {n_draws} draws", ylabel="stars")
    return fig, axes
