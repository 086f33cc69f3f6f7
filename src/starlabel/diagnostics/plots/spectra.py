"""Spectra with their diagnostic lines marked."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..._typing import PathLike

__all__ = ["EXAMPLE_STARS", "draw_example_stars", "plot_spectra_with_lines"]

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


def draw_example_stars(setup: str, path: PathLike) -> Path:
    """The figure of ``starlabel synth --plot``: a solar dwarf, a metal-poor giant
    and a cool giant over ``setup`` with the named lines, written as PNG."""
    import torch

    from ...synth.atoms import load_linelist
    from ...synth.physics import SpectrumGenerator

    gen = SpectrumGenerator(setup)
    with torch.no_grad():
        flux = gen(torch.tensor(list(EXAMPLE_STARS.values()))).cpu().numpy()
    lines = load_linelist()
    named = [
        (w, f"{s} {'I' * i} {w:.1f}")
        for w, s, i, q in zip(
            lines.wavelength, lines.species, lines.ion, lines.quality, strict=True
        )
        if q == "named"
    ]
    ranges = []
    for seg in gen.setup.grid.segments:
        edges = np.linspace(seg[0], seg[-1], 3 if seg[-1] - seg[0] > 200 else 2)
        ranges += list(zip(edges[:-1], edges[1:], strict=True))
    fig, _ = plot_spectra_with_lines(
        gen.setup.grid.wavelength, flux, list(EXAMPLE_STARS), named, ranges=ranges
    )
    fig.suptitle(
        f"starlabel synthetic spectra, {setup} (R per segment {gen.setup.resolution})",
        y=1.0,
    )
    from ._save import save_png

    save_png(fig, path, dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return Path(path)
