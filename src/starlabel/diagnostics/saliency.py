"""Saliency: which pixels, and so which spectral lines, each predicted label relies on.

The saliency of label l at pixel p for one star is the gradient d label_l / d flux_p of
the model's prediction (labels' units per unit of normalised flux). Averaged over
stars it is kept signed (does deepening a line raise or lower the label?) and absolute
(how much does the label care at all?). The strongest peaks of the absolute profile
are matched to the package line list (nearest line within a tolerance), as in
Ambrosch et al. 2023 (Fig. 9) and Guiglion et al. 2024 (Fig. 11).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..spectra.labels import element_of

__all__ = [
    "Peak",
    "element_of",
    "line_peaks",
    "own_element_fraction",
    "saliency",
]


def saliency(
    fn: Callable[[torch.Tensor], torch.Tensor],
    flux: np.ndarray,
    *,
    batch_size: int = 32,
    dtype: torch.dtype = torch.float32,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Gradients ``(n_labels, n_spectra, n_pixels)`` of ``fn(flux)`` per label.

    Args:
        fn: differentiable ``(n, n_pixels) -> (n, n_labels)`` (a model's
            ``label_function()``); rows must not mix (no batch statistics).
        flux: ``(n_spectra, n_pixels)`` input flux.
        dtype: of the input tensor (the model's parameters' dtype).
    """
    out: np.ndarray | None = None
    for start in range(0, len(flux), batch_size):
        x = torch.as_tensor(np.asarray(flux[start : start + batch_size]), dtype=dtype)
        x.requires_grad_(True)
        y = fn(x)
        if out is None:
            out = np.zeros((y.shape[1], len(flux), flux.shape[1]), dtype=np.float64)
        for k in range(y.shape[1]):
            (g,) = torch.autograd.grad(
                y[:, k].sum(), x, retain_graph=k < y.shape[1] - 1
            )
            out[k, start : start + len(x)] = g.double().numpy()
        if progress is not None:
            progress(min(len(flux), start + batch_size))
    assert out is not None, "no spectra"
    return out


@dataclass(frozen=True)
class Peak:
    """One saliency peak and the line it matches (NaN / "" when none within tolerance)."""

    wavelength: float
    strength: float
    sign: int
    species: str
    ion: int
    line_wavelength: float


def line_peaks(
    wavelength: np.ndarray,
    abs_profile: np.ndarray,
    signed_profile: np.ndarray,
    lines,
    *,
    top: int = 10,
    tolerance: float = 0.25,
    min_separation: int = 5,
) -> list[Peak]:
    """The ``top`` strongest local maxima of an absolute saliency profile, each matched
    to the nearest line of ``lines`` (a ``LineList``) within ``tolerance`` Angstrom."""
    from scipy.signal import find_peaks

    idx, props = find_peaks(abs_profile, distance=min_separation, height=0)
    order = idx[np.argsort(props["peak_heights"])[::-1][:top]]
    out = []
    for i in order:
        w = float(wavelength[i])
        j = int(np.argmin(np.abs(lines.wavelength - w))) if len(lines) else -1
        hit = j >= 0 and abs(lines.wavelength[j] - w) <= tolerance
        out.append(
            Peak(
                w,
                float(abs_profile[i]),
                int(np.sign(signed_profile[i])),
                str(lines.species[j]) if hit else "",
                int(lines.ion[j]) if hit else 0,
                float(lines.wavelength[j]) if hit else float("nan"),
            )
        )
    return out


def own_element_fraction(
    label: str, peaks: Sequence[Peak], wavelength: np.ndarray, lines, tolerance: float
) -> tuple[float, float]:
    """Share of ``peaks`` on lines of the label's own element, and the share expected
    by chance (pixels of the grid whose nearest line within ``tolerance`` is of that
    element). NaN for labels that are not abundances."""
    element = element_of(label)
    if element is None or not peaks:
        return float("nan"), float("nan")
    hit = np.mean([p.species == element for p in peaks])
    if len(lines) == 0:
        return float(hit), 0.0
    j = np.searchsorted(lines.wavelength, wavelength)
    lo, hi = np.clip(j - 1, 0, len(lines) - 1), np.clip(j, 0, len(lines) - 1)
    closer = np.abs(wavelength - lines.wavelength[lo]) <= np.abs(
        lines.wavelength[hi] - wavelength
    )
    nearest = np.where(closer, lo, hi)
    near = np.abs(lines.wavelength[nearest] - wavelength) <= tolerance
    chance = np.mean(near & (lines.species[nearest] == element))
    return float(hit), float(chance)
