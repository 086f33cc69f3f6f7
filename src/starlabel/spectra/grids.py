"""Wavelength grids: named survey grids, grids read from files, and bin edges.

A :class:`Grid` is one or more strictly increasing segments (several setups joined
with gaps between them, as HR10 + HR21). Resampling works segment by segment, so no
output pixel spans a gap.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._typing import PathLike
from ..errors import StarlabelInputError

__all__ = [
    "Grid",
    "named_grid",
    "NAMED_GRIDS",
    "bin_edges",
    "split_segments",
    "grid_from_file",
    "SETUP_COVERAGE",
    "coverable",
]


@dataclass(frozen=True)
class Grid:
    """A wavelength grid in Angstrom made of increasing, non-overlapping segments.

    Attributes:
        segments: tuple of ``(n_i,)`` float64 arrays of pixel centres.
        medium: ``"air"`` or ``"vacuum"``.
        name: a name for files and messages (``"giraffe-hr10-hr21"``).
    """

    segments: tuple[np.ndarray, ...]
    medium: str = "air"
    name: str = ""

    def __post_init__(self) -> None:
        if not self.segments:
            raise ValueError("segments: a grid needs at least one segment")
        last = -np.inf
        for k, seg in enumerate(self.segments):
            if seg.ndim != 1 or seg.size < 2 or not np.all(np.diff(seg) > 0):
                raise ValueError(
                    f"segments[{k}]: must be 1D, strictly increasing, >= 2 pixels"
                )
            if seg[0] <= last:
                raise ValueError(f"segments[{k}]: overlaps the previous segment")
            last = seg[-1]
        if self.medium not in ("air", "vacuum"):
            raise ValueError(f"medium: expected 'air' or 'vacuum', got {self.medium!r}")

    @property
    def wavelength(self) -> np.ndarray:
        """All pixel centres, ``(n_pixels,)`` Angstrom."""
        return np.concatenate(self.segments)

    @property
    def n_pixels(self) -> int:
        return int(sum(s.size for s in self.segments))

    def __repr__(self) -> str:
        parts = ", ".join(
            f"{s[0]:.2f}-{s[-1]:.2f} A ({s.size} px)" for s in self.segments
        )
        return f"Grid({self.name or 'unnamed'}: {parts}, {self.medium})"

    @classmethod
    def from_wavelength(
        cls, wavelength: np.ndarray, medium: str = "air", name: str = ""
    ) -> Grid:
        """Split a concatenated grid at its gaps into segments."""
        return cls(
            tuple(split_segments(np.asarray(wavelength, dtype=np.float64))),
            medium,
            name,
        )


def _linear(start: float, step: float, n: int) -> np.ndarray:
    return np.round(start + step * np.arange(n), 10)


def _log(start_log10: float, step_log10: float, n: int) -> np.ndarray:
    return 10.0 ** (start_log10 + step_log10 * np.arange(n))


# Each entry: segments, medium, and where the numbers come from.
NAMED_GRIDS: dict[str, tuple[tuple[np.ndarray, ...], str, str]] = {
    # Ambrosch et al. 2023: HR10 rebinned to 0.06 A/px, HR21 to 0.1 A/px, truncated to
    # 5350-5600 + 8480-8930 A: 4168 + 4501 = 8669 pixels.
    "giraffe-hr10-hr21": (
        (_linear(5350.0, 0.06, 4168), _linear(8480.0, 0.1, 4501)),
        "air",
        "Ambrosch et al. 2023 joined HR10+HR21 grid",
    ),
    # Gaia-ESO GIRAFFE setups at the survey's 0.05 A/px sampling.
    "giraffe-hr10": ((_linear(5339.0, 0.05, 5601),), "air", "GIRAFFE HR10 5339-5619 A"),
    "giraffe-hr21": (
        (_linear(8484.0, 0.05, 10341),),
        "air",
        "GIRAFFE HR21 8484-9001 A",
    ),
    "giraffe-hr15n": (
        (_linear(6444.0, 0.05, 7481),),
        "air",
        "GIRAFFE HR15N 6444-6818 A",
    ),
    # Gaia DR3 RVS: 846-870 nm in 0.01 nm steps, vacuum.
    "gaia-rvs": ((_linear(8460.0, 0.1, 2401),), "vacuum", "Gaia DR3 RVS 846-870 nm"),
    # APOGEE apStar: log10(lambda) = 4.179 + 6e-6 k, k < 8575, vacuum.
    "apogee": ((_log(4.179, 6e-6, 8575),), "vacuum", "APOGEE apStar log-lambda grid"),
}


# Named grids that reach beyond the setups they are made from: the wavelength ranges
# (Angstrom, the grid's medium) the setups' own spectra cover. HR21 starts at 8484 A,
# the Ambrosch grid at 8480 A: its first 40 pixels are empty in every real spectrum.
SETUP_COVERAGE: dict[str, tuple[tuple[float, float], ...]] = {
    "giraffe-hr10-hr21": ((5339.0, 5619.0), (8484.0, 9001.0)),
}


def coverable(grid: Grid, observed: list[tuple[float, float]] = ()) -> np.ndarray:
    """``(n_pixels,)`` bool: the grid pixels that a spectrum can cover at all.

    For a named grid that reaches beyond its setups (:data:`SETUP_COVERAGE`) the
    setups' ranges, else the whole grid; for other grids, the ``observed`` ranges
    ``(lo, hi)`` of the input spectra (in the grid's medium), or the whole grid when
    none is given. A spectrum that misses only pixels outside these ranges is not
    partial: no spectrum of its setup could have them.

    Example:
        >>> g = named_grid("giraffe-hr10-hr21")
        >>> int((~coverable(g)).sum())  # 8480-8483.9 A: before HR21 starts
        40
    """
    wl = grid.wavelength
    ranges = SETUP_COVERAGE.get(grid.name) if grid.name in NAMED_GRIDS else None
    if ranges is None:
        if grid.name in NAMED_GRIDS or not observed:
            return np.ones(wl.size, dtype=bool)
        ranges = tuple(observed)
    out = np.zeros(wl.size, dtype=bool)
    for lo, hi in ranges:
        out |= (wl >= lo - 1e-6) & (wl <= hi + 1e-6)
    return out


def named_grid(name: str) -> Grid:
    """One of :data:`NAMED_GRIDS`.

    Example:
        >>> named_grid("giraffe-hr10-hr21").n_pixels
        8669
    """
    if name not in NAMED_GRIDS:
        raise ValueError(
            f"grid: unknown name {name!r}; choose from {sorted(NAMED_GRIDS)} or give a file"
        )
    segments, medium, _ = NAMED_GRIDS[name]
    return Grid(tuple(s.copy() for s in segments), medium, name)


def split_segments(centres: np.ndarray, gap_factor: float = 5.0) -> list[np.ndarray]:
    """Split pixel centres where a step exceeds ``gap_factor`` x the median step."""
    c = np.asarray(centres, dtype=np.float64)
    if c.size < 3:
        return [c]
    d = np.diff(c)
    # Compare with the median of the neighbouring steps, so grids that change
    # sampling between setups are not cut inside a setup.
    ref = np.median(d)
    cuts = np.flatnonzero(d > gap_factor * ref) + 1
    return [s for s in np.split(c, cuts) if s.size]


def bin_edges(centres: np.ndarray) -> np.ndarray:
    """``(n + 1,)`` pixel edges of one segment: midpoints, ends extrapolated by half a step."""
    c = np.asarray(centres, dtype=np.float64)
    if c.size == 1:
        raise ValueError("centres: need at least 2 pixels to define edges")
    mid = 0.5 * (c[1:] + c[:-1])
    return np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])


def grid_from_file(path: PathLike) -> Grid:
    """A grid read from a dataset file (its ``/wavelength``) or a one-column text file.

    Text files hold wavelengths in Angstrom, one per line; a header line may name
    the medium (``# medium: vacuum``). Gaps split the grid into segments.
    """
    path = Path(path)
    if not path.exists():
        raise StarlabelInputError("no such grid file", path=path)
    if path.suffix.lower() in (".h5", ".hdf5"):
        from .io.hdf5 import DatasetReader

        with DatasetReader(path) as r:
            return Grid.from_wavelength(
                r.wavelength_aa, r.attrs.get("medium", "air"), path.stem
            )
    medium = "air"
    values = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            if "vacuum" in line.lower():
                medium = "vacuum"
            continue
        try:
            values.append(float(line.split(",")[0].split()[0]))
        except ValueError as exc:
            raise StarlabelInputError(
                f"not a number: {line[:40]!r}", path=path
            ) from exc
    wl = np.asarray(values)
    if wl.size < 2 or not np.all(np.diff(wl) > 0):
        raise StarlabelInputError(
            "grid must have >= 2 strictly increasing wavelengths", path=path
        )
    return Grid.from_wavelength(wl, medium, path.stem)
