"""Spectra with their diagnostic lines marked."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["plot_spectra_with_lines", "EXAMPLE_STARS"]

# Three stars to look at: a solar-like dwarf, a metal-poor giant, a cool giant.
EXAMPLE_STARS = {
    "solar-like dwarf (5777 K, 4.44, [Fe/H] 0)": [
        5777,
        4.44,
        0.0,
        0,
        0,
        0,
        0,
        0,
        0,
        1.05,
        1.0,
        2.0,
    ],
    "metal-poor giant (4800 K, 1.8, [Fe/H] -1.5, [a/Fe] +0.3)": [
        4800,
        1.8,
        -1.5,
        0.3,
        0.2,
        0.25,
        0.25,
        0.25,
        0.0,
        0.8,
        1.7,
        3.0,
    ],
    "cool giant (4000 K, 1.2, [Fe/H] 0)": [
        4000,
        1.2,
        0.0,
        0,
        0,
        0,
        0,
        0,
        0,
        0.5,
        1.6,
        3.0,
    ],
}


def _agg():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_spectra_with_lines(
    wavelength: np.ndarray,
    flux: np.ndarray,
    names: Sequence[str],
    lines: Sequence[tuple[float, str]],
    *,
    ranges: Sequence[tuple[float, float]],
    fig: Any = None,
) -> tuple[Any, Any]:
    """One panel per wavelength range; each spectrum offset; named lines marked.

    Args:
        wavelength: ``(n_pixels,)`` Angstrom.
        flux: ``(n_spectra, n_pixels)`` normalised flux.
        names: one legend entry per spectrum.
        lines: ``(wavelength, label)`` of the lines to mark.
        ranges: ``(lo, hi)`` Angstrom per panel.

    Returns:
        ``(fig, axes)``.
    """
    plt = _agg()
    if fig is None:
        fig = plt.figure(figsize=(15, 3.2 * len(ranges)))
    axes = fig.subplots(len(ranges), 1, squeeze=False)[:, 0]
    offsets = np.arange(len(names)) * 0.0
    for ax, (lo, hi) in zip(axes, ranges, strict=True):
        m = (wavelength >= lo) & (wavelength <= hi)
        for k, name in enumerate(names):
            # earlier spectra on top, so a weak-lined star is not hidden under a strong one
            ax.plot(
                wavelength[m],
                flux[k][m] + offsets[k],
                lw=0.7,
                label=name,
                zorder=len(names) - k,
            )
        for w, label in lines:
            if lo <= w <= hi:
                ax.axvline(w, color="0.6", lw=0.5, ls=":")
                ax.text(
                    w, 1.04, label, rotation=90, fontsize=6, ha="center", va="bottom"
                )
        ax.set_xlim(lo, hi)
        ax.set_ylim(0.0, 1.25)
        ax.set_ylabel("normalised flux")
    axes[-1].set_xlabel("wavelength (air) [Angstrom]")
    axes[0].legend(loc="lower left", fontsize=7, ncol=len(names))
    fig.tight_layout()
    return fig, axes
