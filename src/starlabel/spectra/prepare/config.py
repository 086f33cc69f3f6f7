"""The settings of ``prepare`` (checked on construction) and its report."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..grids import Grid
from ..io.registry import Rejected

__all__ = ["PrepareConfig", "PrepareReport"]


@dataclass(frozen=True, kw_only=True, slots=True)
class PrepareConfig:
    """Settings of the preparation chain.

    Attributes:
        grid: a named grid, a :class:`Grid`, or ``None`` to keep the inputs' own grid
            when they all share it, else the union of their ranges at the coarsest
            input sampling.
        shift_rv: shift to the rest frame with the catalogue's ``rv`` column.
        clean: remove spikes (> ``spike_sigma`` above the local median) and zero flux.
        spike_sigma: spike threshold in noise sigmas.
        normalise: the continuum method; ``"none"`` for already normalised inputs;
            ``"auto"`` (default): the reader's documented default, ``"none"`` except
            for formats whose flux is never normalised (APOGEE: ``"percentile"``).
        fill: how masked pixels are filled in the file (their ivar stays 0).
        min_coverage: fraction of an output pixel unmasked input must cover.
        min_snr: drop spectra with a lower S/N (after resampling).
        max_label_err: label -> largest accepted catalogue uncertainty.
        flag_column: catalogue meta column whose non-empty / non-zero values drop a star.
        batch_size: spectra per write.
        repeats: keep several spectra of one id and one setup as repeat
            observations with distinct ids (``ID``, ``ID~2``, ``ID~3``, ... in the
            order read); without it two such spectra are an error (two different
            stars, or a repeat the user did not mean to co-add).
    """

    grid: str | Grid | None = None
    shift_rv: bool = False
    clean: bool = True
    spike_sigma: float = 5.0
    normalise: Literal["auto", "none", "percentile", "polynomial"] = "auto"
    fill: Literal["interp", "one", "mean"] = "interp"
    min_coverage: float = 0.5
    min_snr: float | None = None
    max_label_err: Mapping[str, float] = field(default_factory=dict)
    flag_column: str | None = None
    batch_size: int = 512
    repeats: bool = False

    def __post_init__(self) -> None:
        if self.normalise not in ("auto", "none", "percentile", "polynomial"):
            raise ValueError(
                "normalise: expected auto, none, percentile or polynomial, got "
                f"{self.normalise!r}"
            )
        if self.fill not in ("interp", "one", "mean"):
            raise ValueError(f"fill: expected interp, one or mean, got {self.fill!r}")
        if not 0 < self.min_coverage <= 1:
            raise ValueError(f"min_coverage: expected (0, 1], got {self.min_coverage}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size: expected >= 1, got {self.batch_size}")


@dataclass
class PrepareReport:
    """What ``prepare`` did: counts, the grid, and every skipped spectrum with its reason."""

    n_read: int = 0
    n_written: int = 0
    n_without_labels: int = 0
    n_nonphysical: int = 0
    grid: Grid | None = None
    rejected: list[Rejected] = field(default_factory=list)
    flag_counts: Counter = field(default_factory=Counter)
    #: spectra normalised by their format's default: ``{(format, method): count}``
    normalised: Counter = field(default_factory=Counter)
    #: ids given to repeat observations (``--repeats``): ``{"ID~2": "ID", ...}``
    repeat_of: dict[str, str] = field(default_factory=dict)
    #: written pairs of spectra of one star (``ID``, ``ID~k``)
    pairs: list[tuple[str, str]] = field(default_factory=list)
    rejected_file: Path | None = None
    pairs_file: Path | None = None

    def summary(self) -> str:
        return (
            f"{self.n_written} spectra written, {len(self.rejected)} skipped, "
            f"{self.n_without_labels} without catalogue labels"
        )
