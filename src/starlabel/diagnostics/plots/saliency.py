"""Saliency under a median spectrum, with the lines the network relies on marked."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .latent import wavelength_segments
from .spectra import _agg

__all__ = ["plot_saliency"]


def plot_saliency(
    wavelength: np.ndarray,
    median_flux: np.ndarray,
    abs_profile: np.ndarray,
    signed_profile: np.ndarray,
    peaks: Sequence[Any],
    label: str,
    unit: str,
    *,
    fig: Any = None,
) -> tuple[Any, Any]:
    """Median spectrum (top) and mean |d label / d flux| with the signed mean (bottom),
    one column per wavelength segment; the strongest peaks marked with their line."""
    plt = _agg()
    segs = wavelength_segments(wavelength)
    if fig is None:
        fig = plt.figure(figsize=(7 * len(segs), 4.6))
    axes = fig.subplots(
        2,
        len(segs),
        squeeze=False,
        sharex="col",
        gridspec_kw={"height_ratios": [1, 1.3]},
    )
    per = f"{unit} per unit flux" if unit else "per unit flux"
    for col, sl in enumerate(segs):
        wl = wavelength[sl]
        top, bottom = axes[0, col], axes[1, col]
        top.plot(wl, median_flux[sl], color="k", lw=0.6)
        bottom.plot(wl, abs_profile[sl], color="C0", lw=0.6, label="mean |gradient|")
        bottom.plot(
            wl, signed_profile[sl], color="C1", lw=0.5, alpha=0.7, label="mean gradient"
        )
        bottom.axhline(0, color="0.6", lw=0.4)
        for p in peaks:
            if wl[0] <= p.wavelength <= wl[-1]:
                for ax in (top, bottom):
                    ax.axvline(p.wavelength, color="C3", lw=0.5, ls=":")
                name = f"{p.species} {'I' * p.ion}" if p.species else "?"
                top.text(
                    p.wavelength,
                    1.02,
                    name,
                    rotation=90,
                    fontsize=6,
                    ha="center",
                    va="bottom",
                    color="C3",
                )
        top.set_ylim(min(0.2, float(np.nanmin(median_flux[sl])) - 0.02), 1.15)
        top.set_ylabel("median flux")
        bottom.set_ylabel(f"d {label} / d flux\n[{per}]")
        bottom.set_xlabel("wavelength [Angstrom]")
    axes[1, 0].legend(loc="upper left", fontsize=7)
    fig.suptitle(
        f"saliency of {label}: red dotted = its {len(peaks)} strongest peaks",
        fontsize=9,
    )
    fig.tight_layout()
    return fig, axes
