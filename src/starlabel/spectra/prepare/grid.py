"""The common grid of ``prepare``: given (named, a file, a :class:`Grid`) or inferred."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..grids import Grid, grid_from_file, named_grid
from ..preprocess import air_to_vacuum, vacuum_to_air
from .config import PrepareConfig

__all__ = ["infer_grid", "resolve_grid", "to_medium", "inputs_grid"]


def to_medium(wl: np.ndarray, medium: str, target: str) -> np.ndarray:
    """Wavelengths in ``medium`` converted to the ``target`` medium."""
    if medium == target:
        return wl
    return air_to_vacuum(wl) if target == "vacuum" else vacuum_to_air(wl)


def _is_log_uniform(wl: np.ndarray) -> bool:
    d = np.diff(np.log10(wl))
    return bool(np.allclose(d, d[0], rtol=1e-3, atol=0))


def infer_grid(grids: Sequence[np.ndarray], medium: str) -> Grid:
    """The grid ``prepare`` uses when none is given.

    The inputs' own grid when they all share it; otherwise each group of overlapping
    input ranges becomes one segment sampled at the coarsest input step (in log
    wavelength when every input is log-uniform, as for APOGEE).
    """
    if not grids:
        raise ValueError("grids: no input spectra to infer a grid from")
    first = grids[0]
    if all(
        g.size == first.size and np.allclose(g, first, rtol=0, atol=1e-6)
        for g in grids[1:]
    ):
        return Grid.from_wavelength(first, medium, "input")
    log_sampled = all(_is_log_uniform(g) for g in grids)
    ranges = sorted((g[0], g[-1]) for g in grids)
    clusters: list[list[float]] = []
    for lo, hi in ranges:
        if clusters and lo <= clusters[-1][1]:
            clusters[-1][1] = max(clusters[-1][1], hi)
        else:
            clusters.append([lo, hi])
    segments = []
    if log_sampled:
        step = max(float(np.median(np.diff(np.log10(g)))) for g in grids)
        for lo, hi in clusters:
            n = int(np.floor((np.log10(hi) - np.log10(lo)) / step + 1e-9)) + 1
            segments.append(10.0 ** (np.log10(lo) + step * np.arange(n)))
    else:
        step = max(float(np.median(np.diff(g))) for g in grids)
        for lo, hi in clusters:
            n = int(np.floor((hi - lo) / step + 1e-9)) + 1
            segments.append(lo + step * np.arange(n))
    return Grid(tuple(segments), medium, "union")


def resolve_grid(config: PrepareConfig) -> Grid | None:
    if isinstance(config.grid, Grid) or config.grid is None:
        return config.grid
    path = Path(config.grid)
    if path.exists():
        return grid_from_file(path)
    return named_grid(config.grid)


def inputs_grid(found: Sequence[tuple[str, np.ndarray]], medium: str) -> Grid:
    """:func:`infer_grid` over the distinct input grids (``(medium, wavelength)``),
    each first converted to ``medium``."""
    seen: dict[tuple, np.ndarray] = {}
    for m, wl in found:
        wl = to_medium(wl, m, medium)
        seen.setdefault((wl.size, round(float(wl[0]), 6), round(float(wl[-1]), 6)), wl)
    return infer_grid(list(seen.values()), medium)
