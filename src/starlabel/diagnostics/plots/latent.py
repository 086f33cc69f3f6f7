"""Figures of the disentangling autoencoder: edited spectra and label-coloured maps."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .spectra import _agg

__all__ = [
    "plot_edited_spectrum",
    "write_edited_spectrum",
    "plot_label_maps",
    "plot_similarity_map",
    "wavelength_segments",
]


def wavelength_segments(wavelength: np.ndarray, gap: float = 50.0) -> list[slice]:
    """Index ranges of a grid split where consecutive pixels are more than ``gap``
    Angstrom apart (e.g. two spectrograph setups)."""
    breaks = np.flatnonzero(np.diff(wavelength) > gap) + 1
    edges = [0, *breaks.tolist(), len(wavelength)]
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def _label_text(labels: Mapping[str, float]) -> str:
    return ", ".join(
        f"{k} {v:.0f}" if k == "teff" else f"{k} {v:+.2f}" for k, v in labels.items()
    )


def plot_edited_spectrum(edit: Any, *, fig: Any = None) -> tuple[Any, Any]:
    """Original, reconstruction and edited spectrum of one star (GANDALF Fig. 2), one
    column per wavelength segment, with the edited-minus-reconstruction difference
    underneath.

    Args:
        edit: a :class:`starlabel.models.gandalf.EditedSpectrum`.
    """
    plt = _agg()
    segs = wavelength_segments(edit.wavelength)
    if fig is None:
        fig = plt.figure(figsize=(7 * len(segs), 5.5))
    axes = fig.subplots(
        2, len(segs), squeeze=False, sharex="col", gridspec_kw={"height_ratios": [3, 1]}
    )
    changed = {k: v for k, v in edit.edited_labels.items() if v != edit.labels[k]}
    for col, sl in enumerate(segs):
        wl = edit.wavelength[sl]
        top, bottom = axes[0, col], axes[1, col]
        top.plot(wl, edit.original[sl], color="0.6", lw=0.6, label="observed")
        top.plot(
            wl, edit.reconstruction[sl], color="C0", lw=0.8, label="reconstruction"
        )
        top.plot(
            wl,
            edit.edited[sl],
            color="C3",
            lw=0.8,
            label=f"edited: {_label_text(changed) or 'no change'}",
        )
        bottom.plot(wl, edit.edited[sl] - edit.reconstruction[sl], color="C3", lw=0.7)
        bottom.axhline(0, color="0.5", lw=0.5)
        top.set_ylabel("normalised flux")
        bottom.set_ylabel("edited - recon.")
        bottom.set_xlabel("wavelength [Angstrom]")
    axes[0, 0].legend(loc="lower left", fontsize=7)
    fig.suptitle(
        f"{edit.star_id}: decoder labels {_label_text(edit.labels)}", fontsize=9
    )
    fig.tight_layout()
    return fig, axes


def plot_label_maps(
    maps: Mapping[str, np.ndarray],
    colours: Mapping[str, np.ndarray],
    units: Mapping[str, str] | None = None,
    *,
    fig: Any = None,
) -> tuple[Any, Any]:
    """Grid of 2-D maps (rows: e.g. spectra, plain latent, disentangled latent),
    coloured by each label (columns). A label the map does not hold shows no colour
    gradient.

    Args:
        maps: row title -> ``(n, 2)`` coordinates (same stars in every map).
        colours: label name -> ``(n,)`` values.
        units: label name -> unit, for the colour bars.
    """
    plt = _agg()
    units = units or {}
    if fig is None:
        fig = plt.figure(figsize=(3.2 * len(colours), 2.9 * len(maps)))
    axes = fig.subplots(len(maps), len(colours), squeeze=False)
    for r, (title, xy) in enumerate(maps.items()):
        for c, (name, values) in enumerate(colours.items()):
            ax = axes[r, c]
            lo, hi = np.nanpercentile(values, [2, 98])
            sc = ax.scatter(
                xy[:, 0],
                xy[:, 1],
                c=values,
                s=2,
                cmap="viridis",
                vmin=lo,
                vmax=hi,
                rasterized=True,
            )
            unit = units.get(name, "")
            fig.colorbar(sc, ax=ax, label=f"{name} [{unit}]" if unit else name)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(f"{title}\nt-SNE 2")
            if r == len(maps) - 1:
                ax.set_xlabel("t-SNE 1")
    fig.tight_layout()
    return fig, axes


def plot_similarity_map(
    train_xy: np.ndarray,
    data_xy: np.ndarray | None = None,
    inner: np.ndarray | None = None,
    *,
    colour: np.ndarray | None = None,
    colour_label: str = "",
    fig: Any = None,
) -> tuple[Any, Any]:
    """The t-SNE map: training spectra (grey, or coloured by ``colour``), new spectra
    as training-like (blue) or unlike (red) points."""
    plt = _agg()
    if fig is None:
        fig = plt.figure(figsize=(6.4, 5.4))
    ax = fig.subplots()
    if colour is None:
        ax.scatter(
            train_xy[:, 0],
            train_xy[:, 1],
            s=2,
            c="0.75",
            label=f"training ({len(train_xy)})",
            rasterized=True,
        )
    else:
        sc = ax.scatter(
            train_xy[:, 0],
            train_xy[:, 1],
            s=2,
            c=colour,
            cmap="viridis",
            rasterized=True,
        )
        fig.colorbar(sc, ax=ax, label=colour_label)
    if data_xy is not None and len(data_xy):
        ok = np.ones(len(data_xy), bool) if inner is None else np.asarray(inner, bool)
        ax.scatter(
            data_xy[ok, 0],
            data_xy[ok, 1],
            s=5,
            c="C0",
            label=f"training-like ({ok.sum()})",
            rasterized=True,
        )
        ax.scatter(
            data_xy[~ok, 0],
            data_xy[~ok, 1],
            s=9,
            c="C3",
            marker="x",
            label=f"unlike ({(~ok).sum()})",
        )
    ax.set_xlabel("t-SNE 1")
    ax.set_ylabel("t-SNE 2")
    if ax.get_legend_handles_labels()[0]:  # coloured training points and no data: none
        ax.legend(loc="best", fontsize=7, markerscale=3)
    fig.tight_layout()
    return fig, ax


def write_edited_spectrum(edit: Any, path: Any, *, dpi: int = 100) -> Any:
    """:func:`plot_edited_spectrum` written to ``path`` as PNG (atomically)."""
    from pathlib import Path

    import matplotlib.pyplot as plt

    from ._save import save_png

    fig, _ = plot_edited_spectrum(edit)
    save_png(fig, path, dpi=dpi)
    plt.close(fig)
    return Path(path)
