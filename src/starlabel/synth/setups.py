"""Instrument setups of the synthetic survey: grid, resolving power, native sampling."""

from __future__ import annotations

from dataclasses import dataclass

from ..spectra.grids import Grid, named_grid

__all__ = ["Setup", "SETUPS", "get_setup"]


@dataclass(frozen=True)
class Setup:
    """An instrument setup.

    Attributes:
        name: setup name (also the dataset's ``setup`` attribute).
        grid: output grid of the dataset (rest frame).
        resolution: resolving power R = lambda / FWHM, one per grid segment.
        native: for joined setups, the names of the setups observed (raw files are
            written per native setup).
    """

    name: str
    grid: Grid
    resolution: tuple[float, ...]
    native: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if len(self.resolution) != len(self.grid.segments):
            raise ValueError("resolution: give one resolving power per grid segment")

    @property
    def natives(self) -> tuple[str, ...]:
        return self.native or (self.name,)


def _build() -> dict[str, Setup]:
    out = {
        # Gaia-ESO GIRAFFE setups at the survey's 0.05 A/px (Sacco et al. 2014).
        "giraffe-hr10": Setup("giraffe-hr10", named_grid("giraffe-hr10"), (19800.0,)),
        "giraffe-hr21": Setup("giraffe-hr21", named_grid("giraffe-hr21"), (16200.0,)),
        "giraffe-hr15n": Setup(
            "giraffe-hr15n", named_grid("giraffe-hr15n"), (17000.0,)
        ),
        # Gaia RVS: R ~ 11 500, 0.1 A/px, vacuum wavelengths in the archive.
        "gaia-rvs": Setup("gaia-rvs", named_grid("gaia-rvs"), (11500.0,)),
        # Ambrosch et al. 2023: HR10 at 0.06 A/px + HR21 at 0.1 A/px, 8669 px.
        "giraffe-hr10-hr21": Setup(
            "giraffe-hr10-hr21",
            named_grid("giraffe-hr10-hr21"),
            (19800.0, 16200.0),
            native=("giraffe-hr10", "giraffe-hr21"),
        ),
    }
    return out


SETUPS: dict[str, Setup] = _build()


def get_setup(name: str) -> Setup:
    """A named setup; raises ``ValueError`` listing the choices."""
    if name not in SETUPS:
        raise ValueError(f"setup: unknown {name!r}; choose from {sorted(SETUPS)}")
    return SETUPS[name]
