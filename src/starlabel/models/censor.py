"""Censoring windows: the pixels an abundance may be read from.

A network trained on a population whose abundances are correlated learns to read
[Al/Fe] from the Mg lines when that is easier (Ambrosch et al. 2023, §4.4). Leung &
Bovy (2019, astroNN) censor each element's output to windows around its own lines.
:func:`element_windows` builds such windows on any wavelength grid from the package
line list (``synth/data/linelist.csv``): every line of the element inside the grid,
a half-width of ``width`` resolution elements (FWHM = lambda / R; R from the setup,
or from the grid's sampling, 2.5 pixels per FWHM) plus the Doppler margin a
rest-frame spectrum still carries. :func:`censoring_masks` gives, per label, its own
element's windows joined with the Fe windows (the pixels that carry Teff, log g and
[Fe/H]: excitation and ionisation balance of iron); Teff, log g, [Fe/H] and labels
without an element see every pixel.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import StarlabelInputError
from ..spectra.labels import element_of
from ..spectra.preprocess import air_to_vacuum
from ..synth.atoms import DEFAULT_WINDOW_KMS, ELEMENTS, load_linelist

__all__ = [
    "censored_element",
    "censoring_masks",
    "element_windows",
    "own_lines_unseen",
    "window_mask",
]

_C_KMS = 299_792.458


def censored_element(label: str) -> str | None:
    """The element whose lines a censored ``label`` reads (``mg_fe`` -> Mg); None
    for labels that see every pixel (Teff, log g, [Fe/H], no element)."""
    element = element_of(label)
    return element if element in ELEMENTS and element != "Fe" else None


def _resolution(wavelength: np.ndarray) -> np.ndarray:
    """R per pixel from the sampling, 2.5 pixels per FWHM (Nyquist and a margin);
    a pixel's step is the smaller of its two neighbours' (a gap between joined
    setups is not a pixel)."""
    d = np.diff(wavelength)
    step = np.minimum(np.r_[d[0], d], np.r_[d, d[-1]])
    return wavelength / (2.5 * step)


def element_windows(
    wavelength: np.ndarray,
    element: str,
    *,
    resolution: float | np.ndarray | None = None,
    medium: str = "air",
    width: float = 1.5,
    rv_margin_kms: float = 5.0,
) -> np.ndarray:
    """Pixels within ``width`` FWHM (plus ``rv_margin_kms``) of a line of ``element``.

    Args:
        wavelength: the grid (Angstrom), strictly increasing.
        element: an element symbol of the line list (``"Mg"``).
        resolution: resolving power, one value or one per pixel (default: from the
            grid's sampling).
        medium: ``"air"`` or ``"vacuum"``: the grid's wavelengths (the line list is
            in air).
        width: half-width of a window in FWHM.
        rv_margin_kms: a residual Doppler shift the window still covers.

    Returns:
        a boolean mask over the grid.

    Raises:
        StarlabelInputError: the line list has no line of ``element`` on the grid.

    Example:
        >>> wl = np.arange(5500.0, 5560.0, 0.05)
        >>> mask = element_windows(wl, "Mg", resolution=20000)
        >>> bool(mask[np.searchsorted(wl, 5528.4)]), bool(mask[0])
        (True, False)
    """
    wl = np.asarray(wavelength, dtype=np.float64)
    mask = window_mask(wl, element, resolution, medium, width, rv_margin_kms)
    if not mask.any():
        raise StarlabelInputError(
            f"the package line list has no {element} line on this grid "
            f"({wl[0]:.1f}-{wl[-1]:.1f} Angstrom, {medium}): its abundance cannot be "
            "censored to its own lines here"
        )
    return mask


def window_mask(
    wl: np.ndarray,
    element: str,
    resolution: float | np.ndarray | None = None,
    medium: str = "air",
    width: float = 1.5,
    rv_margin_kms: float = 5.0,
    *,
    wings: bool = False,
) -> np.ndarray:
    """All windows of ``element`` on the grid as one boolean mask (empty where the
    line list has none there). ``wings``: a strong line whose damping wings the
    line list gives a reach (``window_kms`` above the default, e.g. the Ca II
    triplet's 1500 km/s) covers that reach: where its abundance changes the flux."""
    mask = np.zeros(np.asarray(wl).size, bool)
    for w in _line_windows(
        wl, element, resolution, medium, width, rv_margin_kms, wings=wings
    ):
        mask |= w
    return mask


def _line_windows(
    wl: np.ndarray,
    element: str,
    resolution: float | np.ndarray | None,
    medium: str,
    width: float = 1.5,
    rv_margin_kms: float = 5.0,
    *,
    wings: bool = False,
) -> list[np.ndarray]:
    """One boolean window per line of ``element`` that touches the grid."""
    lines = load_linelist()
    own = lines.species == element
    centres = lines.wavelength[own]
    if medium == "vacuum":
        centres = air_to_vacuum(centres)
    R = _resolution(wl) if resolution is None else np.broadcast_to(resolution, wl.shape)
    half = width * wl / R + wl * rv_margin_kms / _C_KMS
    reach = np.where(
        lines.window_kms[own] > DEFAULT_WINDOW_KMS, lines.window_kms[own], 0.0
    )
    out = [
        np.abs(wl - c) <= (np.fmax(half, wl * r / _C_KMS) if wings else half)
        for c, r in zip(centres, reach, strict=True)
    ]
    return [w for w in out if w.any()]


def own_lines_unseen(
    wavelength: np.ndarray,
    labels: Sequence[str],
    ivar: np.ndarray,
    *,
    medium: str = "air",
) -> dict[str, np.ndarray]:
    """Per abundance label, the spectra (rows of ``ivar``) in which no line of its
    element is seen: every line's window has less than half of its pixels usable
    (ivar > 0), or the grid holds none of its lines. Labels without an element
    (Teff, log g, [Fe/H]) are left out, and so is every label on a grid the line
    list does not cover (no line of any element on it: the H band, say), where
    the absence of an element's lines says nothing."""
    wl = np.asarray(wavelength, dtype=np.float64)
    usable = np.asarray(ivar) > 0
    out: dict[str, np.ndarray] = {}
    if not _line_windows(wl, "Fe", None, medium):
        return out
    for name in labels:
        element = censored_element(name)
        if element is None:
            continue
        seen = np.zeros(usable.shape[0], bool)
        for w in _line_windows(wl, element, None, medium):
            seen |= usable[:, w].mean(axis=1) >= 0.5
        out[name] = ~seen
    return out


def censoring_masks(
    wavelength: np.ndarray,
    labels: Sequence[str],
    *,
    resolution: float | np.ndarray | None = None,
    medium: str = "air",
) -> dict[str, np.ndarray]:
    """Per label, the pixels its output may see: its element's windows with the Fe
    windows; every pixel for labels without an element (Teff, log g, [Fe/H])."""
    every = np.ones(np.asarray(wavelength).size, bool)
    iron = element_windows(wavelength, "Fe", resolution=resolution, medium=medium)
    out = {}
    for name in labels:
        element = censored_element(name)
        out[name] = (
            every
            if element is None
            else iron
            | element_windows(wavelength, element, resolution=resolution, medium=medium)
        )
    return out
