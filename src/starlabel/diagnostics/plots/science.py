"""Science-validation figures of the report (Kiel diagram, disc plane, clusters,
uncertainties against S/N, z-scores)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .spectra import _agg

__all__ = [
    "plot_cluster_spreads",
    "plot_disc_plane",
    "plot_kiel",
    "plot_mg_al",
    "plot_uncertainty_vs_snr",
    "plot_zscores",
]


def _unit(name: str, unit: str) -> str:
    return f"{name} [{unit}]" if unit else name


def _running_median(
    x: np.ndarray, y: np.ndarray, n_bins: int = 12
) -> tuple[np.ndarray, np.ndarray]:
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0)
    if ok.sum() < 10:
        return np.array([]), np.array([])
    edges = np.quantile(np.log10(x[ok]), np.linspace(0, 1, n_bins + 1))
    idx = np.clip(np.digitize(np.log10(x[ok]), edges[1:-1]), 0, n_bins - 1)
    centres = np.array(
        [np.median(x[ok][idx == b]) for b in range(n_bins) if (idx == b).any()]
    )
    values = np.array(
        [np.median(y[ok][idx == b]) for b in range(n_bins) if (idx == b).any()]
    )
    return centres, values


def plot_uncertainty_vs_snr(
    snr: np.ndarray,
    residuals: Sequence[np.ndarray],
    errors: Sequence[Mapping[str, np.ndarray]],
    names: Sequence[str],
    units: Sequence[str],
) -> tuple[Any, Any]:
    """Per label: |residual| (points, and its binned 68th percentile) and the median
    predicted uncertainties (total, internal, external) in S/N bins."""
    plt = _agg()
    n = len(names)
    cols = min(3, n)
    rows = int(np.ceil(n / cols))
    fig = plt.figure(figsize=(4.6 * cols, 3.4 * rows))
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    styles = {"total": ("C0", "-"), "internal": ("C2", "--"), "external": ("C1", ":")}
    for ax, res, err, name, unit in zip(
        axes, residuals, errors, names, units, strict=False
    ):
        ok = np.isfinite(res) & np.isfinite(snr)
        ax.scatter(
            snr[ok], np.abs(res[ok]), s=2, color="0.6", alpha=0.4, label="|residual|"
        )
        x, y = _running_median(snr, np.abs(res) / 0.6745)  # MAD -> sigma
        ax.plot(x, y, color="k", lw=1.4, label="robust residual scatter")
        for kind, values in err.items():
            x, y = _running_median(snr, values)
            if x.size:
                colour, ls = styles.get(kind, ("C4", "-"))
                ax.plot(
                    x,
                    y,
                    color=colour,
                    ls=ls,
                    lw=1.4,
                    label=f"median {kind} uncertainty",
                )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("S/N per pixel")
        ax.set_ylabel(_unit(f"|residual|, sigma of {name}", unit))
    for ax in axes[n:]:
        ax.set_visible(False)
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    return fig, axes


def plot_zscores(z: Sequence[np.ndarray], names: Sequence[str]) -> tuple[Any, Any]:
    """Histogram of (predicted - true) / total uncertainty per label against N(0, 1)."""
    plt = _agg()
    n = len(names)
    fig = plt.figure(figsize=(3.0 * n, 2.9))
    axes = np.atleast_1d(fig.subplots(1, n, squeeze=False)).ravel()
    grid = np.linspace(-5, 5, 201)
    for ax, zz, name in zip(axes, z, names, strict=True):
        zz = zz[np.isfinite(zz)]
        ax.hist(
            np.clip(zz, -5, 5),
            bins=np.linspace(-5, 5, 41),
            density=True,
            color="C0",
            alpha=0.7,
        )
        ax.plot(
            grid,
            np.exp(-0.5 * grid**2) / np.sqrt(2 * np.pi),
            color="k",
            lw=1,
            label="N(0, 1)",
        )
        ax.set_xlabel(f"z of {name} [dimensionless]")
        ax.set_title(
            f"std {np.std(zz):.2f}" if zz.size else "no uncertainties", fontsize=8
        )
    axes[0].set_ylabel("density")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig, axes


def plot_kiel(
    truth: Mapping[str, np.ndarray], pred: Mapping[str, np.ndarray]
) -> tuple[Any, Any]:
    """Kiel diagram (log g against Teff, coloured by [Fe/H]) of the truth and the
    predictions side by side."""
    plt = _agg()
    fig = plt.figure(figsize=(10, 4.3))
    axes = fig.subplots(1, 2, sharex=True, sharey=True)
    lo, hi = np.nanpercentile(truth["fe_h"], [2, 98])
    for ax, d, title in ((axes[0], truth, "truth"), (axes[1], pred, "predicted")):
        sc = ax.scatter(
            d["teff"],
            d["logg"],
            c=d["fe_h"],
            s=3,
            cmap="viridis",
            vmin=lo,
            vmax=hi,
            rasterized=True,
        )
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("Teff [K]")
    axes[0].set_ylabel("log g [dex]")
    axes[0].invert_xaxis()
    axes[0].invert_yaxis()
    fig.colorbar(sc, ax=axes, label="[Fe/H] [dex]")
    return fig, axes


def plot_disc_plane(
    truth: Mapping[str, np.ndarray],
    pred: Mapping[str, np.ndarray],
    assign_truth: np.ndarray,
    assign_pred: np.ndarray,
) -> tuple[Any, Any]:
    """[Mg/Fe] against [Fe/H] for truth and predictions, coloured by HDBSCAN's
    thin/thick/noise assignment."""
    plt = _agg()
    fig = plt.figure(figsize=(10, 4.2))
    axes = fig.subplots(1, 2, sharex=True, sharey=True)
    colours = {"thin": "C0", "thick": "C3", "noise": "0.75", "": "0.9"}
    for ax, d, a, title in (
        (axes[0], truth, assign_truth, "truth"),
        (axes[1], pred, assign_pred, "predicted"),
    ):
        for name, colour in colours.items():
            m = a == name
            if m.any():
                ax.scatter(
                    d["fe_h"][m],
                    d["mg_fe"][m],
                    s=3,
                    c=colour,
                    label=name or "not used",
                    rasterized=True,
                )
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("[Fe/H] [dex]")
    axes[0].set_ylabel("[Mg/Fe] [dex]")
    axes[0].legend(fontsize=7, markerscale=3)
    fig.tight_layout()
    return fig, axes


def plot_cluster_spreads(
    spreads: Mapping[str, Mapping[str, tuple[float, float]]],
) -> tuple[Any, Any]:
    """Per label and open cluster: the std of the true and of the predicted values."""
    plt = _agg()
    n = len(spreads)
    fig = plt.figure(figsize=(3.4 * max(n, 1), 3.2))
    axes = np.atleast_1d(fig.subplots(1, max(n, 1), squeeze=False)).ravel()
    for ax, (label, per) in zip(axes, spreads.items(), strict=False):
        names = list(per)
        x = np.arange(len(names))
        ax.bar(x - 0.2, [per[c][0] for c in names], 0.4, label="truth")
        ax.bar(x + 0.2, [per[c][1] for c in names], 0.4, label="predicted")
        ax.set_xticks(x, names, rotation=30, fontsize=7)
        ax.set_ylabel(f"spread (std) of {label} [dex]")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig, axes


def plot_mg_al(
    truth: tuple[np.ndarray, np.ndarray],
    pred: tuple[np.ndarray, np.ndarray],
    r_truth: float,
    r_pred: float,
) -> tuple[Any, Any]:
    """[Al/Fe] against [Mg/Fe] of globular-cluster stars, truth and predicted."""
    plt = _agg()
    fig = plt.figure(figsize=(5, 4.2))
    ax = fig.subplots()
    ax.scatter(*truth, s=10, c="0.5", label=f"truth (Pearson r {r_truth:.2f})")
    ax.scatter(
        *pred, s=10, c="C3", marker="x", label=f"predicted (Pearson r {r_pred:.2f})"
    )
    ax.set_xlabel("[Mg/Fe] [dex]")
    ax.set_ylabel("[Al/Fe] [dex]")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig, ax
