"""The reading pass of ``prepare`` and the work units both passes run.

A work unit (a group of raw files, or spectra already read) is scanned first:
ids, distinct grids and per spectrum what tells repeats apart. The second pass
prepares each unit with the grid, the settings and the unit's radial velocities;
units travel to worker processes, so everything here is picklable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import StarlabelInputError
from ..grids import Grid
from ..io.catalogue import LabelCatalogue
from ..io.registry import Rejected, iter_raw
from ..raw import RawSpectrum
from .config import PrepareConfig
from .spectrum import process_raws

__all__ = [
    "Mapper",
    "REPEAT_MARK",
    "RvTable",
    "Seen",
    "FileWork",
    "MemoryWork",
    "repeat_ids",
    "rv_tables",
    "call_scan",
    "call_process",
    "call_process_list",
]


#: An ordered map over work units: ``mapper(fn, units) -> iterator of fn(unit)`` in
#: the order of ``units`` (the builtin ``map``, or a pool of processes).
Mapper = Callable[[Callable[[Any], Any], list[Any]], Iterator[Any]]


@dataclass(frozen=True)
class RvTable:
    """Radial velocities of the stars of one work unit (picklable, small)."""

    rvs: dict[str, float] | None

    def __call__(self, raw: RawSpectrum) -> float | None:
        if self.rvs is None:
            return None
        rv = self.rvs.get(raw.id, np.nan)
        if not np.isfinite(rv):
            raise raw.fail(
                "no radial velocity in the catalogue; cannot shift to the rest frame"
            )
        return float(rv)


@dataclass(frozen=True, slots=True)
class Seen:
    """What the first pass keeps of a spectrum: enough to tell repeats apart."""

    setup: str
    source: str
    lo: float
    hi: float
    format: str

    def same_setup(self, other: Seen) -> bool:
        """Two spectra of one id are of one setup: the same named setup, or (a
        setup unknown) overlapping wavelength ranges."""
        if self.setup and other.setup:
            return self.setup == other.setup
        return self.lo <= other.hi and other.lo <= self.hi


def scan_raws(
    raws: Iterable[RawSpectrum],
) -> tuple[list[str], list[tuple[str, np.ndarray]], list[Seen]]:
    """Ids in order, each distinct wavelength grid with its medium, and per spectrum
    its setup, file, wavelength range and format."""
    ids: list[str] = []
    seen: list[Seen] = []
    grids: dict[tuple, tuple[str, np.ndarray]] = {}
    for raw in raws:
        ids.append(raw.id)
        wl = raw.wavelength
        key = (raw.medium, wl.size, round(float(wl[0]), 6), round(float(wl[-1]), 6))
        grids.setdefault(key, (raw.medium, wl))
        seen.append(
            Seen(
                raw.setup,
                str(raw.source),
                float(wl[0]),
                float(wl[-1]),
                str(raw.meta.get("format", "")),
            )
        )
    return ids, list(grids.values()), seen


REPEAT_MARK = "~"


def repeat_ids(
    ids_of: list[list[str]], seen_of: list[list[Seen]], *, repeats: bool
) -> tuple[list[list[str]], dict[str, str]]:
    """The id each spectrum is written under, and ``{repeat id: star id}``.

    Spectra of one id from different setups are joined into one star. A second
    spectrum of the same id and setup is a repeat observation: an error unless
    ``repeats``, else it becomes ``ID~2`` (the third ``ID~3``, ...), each repeat
    joined with the repeats of the same rank from the star's other setups.

    Raises:
        StarlabelInputError: a repeat without ``repeats`` (naming both files and
            the id), or a repeat id that is already another spectrum's id.
    """
    slots: dict[str, list[list[Seen]]] = {}
    out: list[list[str]] = []
    repeat_of: dict[str, str] = {}
    for ids, seen in zip(ids_of, seen_of, strict=True):
        new = []
        for star, s in zip(ids, seen, strict=True):
            groups = slots.setdefault(star, [])
            clash = (
                next((g for g in groups[0] if g.same_setup(s)), None)
                if groups
                else None
            )
            if clash is not None and not repeats:
                setup = f"setup {s.setup}" if s.setup else "wavelength range"
                where = (
                    "this file holds another"
                    if clash.source == s.source
                    else f"{clash.source} holds another"
                )
                raise StarlabelInputError(
                    f"two spectra of one {setup} share this id: {where}; "
                    "co-adding them could mix two different stars. Give "
                    "different stars different ids, or pass --repeats to keep "
                    f"both as repeat observations ({star} and "
                    f"{star}{REPEAT_MARK}2)",
                    path=s.source,
                    star=star,
                )
            k = next(
                (
                    i
                    for i, group in enumerate(groups)
                    if not any(g.same_setup(s) for g in group)
                ),
                len(groups),
            )
            if k == len(groups):
                groups.append([])
            groups[k].append(s)
            name = star if k == 0 else f"{star}{REPEAT_MARK}{k + 1}"
            if k:
                repeat_of[name] = star
            new.append(name)
        out.append(new)
    taken = set(slots).intersection(repeat_of)
    if taken:
        name = sorted(taken)[0]
        raise StarlabelInputError(
            f"the repeat id {name} (a second spectrum of {repeat_of[name]}) is "
            "already the id of another spectrum; rename one",
            star=repeat_of[name],
        )
    return out, repeat_of


@dataclass(frozen=True)
class FileWork:
    """Raw files for a worker, in order: read and scan them, or read and prepare."""

    paths: tuple[str, ...]
    format: str | None
    options: dict[str, Any]

    def raws(self, rejected: list[Rejected]) -> Iterator[RawSpectrum]:
        return iter_raw(
            list(self.paths), self.format, rejected=rejected, **self.options
        )

    def scan(
        self,
    ) -> tuple[list[str], list[tuple[str, np.ndarray]], list[Rejected], list[Seen]]:
        rejected: list[Rejected] = []
        ids, grids, seen = scan_raws(self.raws(rejected))
        return ids, grids, rejected, seen

    def process(
        self, job: tuple[Grid, PrepareConfig, RvTable]
    ) -> tuple[Iterator, list]:
        """Items (lazy) and the list their rejects go to as they are prepared (read
        failures were counted by the scan)."""
        rejected: list[Rejected] = []
        return process_raws(self.raws([]), *job, rejected), rejected


def call_scan(unit: Any) -> Any:
    return unit.scan()


def call_process(job: tuple[Any, Any]) -> Any:
    return job[0].process(job[1])


def call_process_list(job: tuple[Any, Any]) -> Any:
    items, rejects = job[0].process(job[1])
    items = list(items)
    return items, rejects


def rv_tables(
    catalogue: LabelCatalogue | None, config: PrepareConfig, ids_of: list[list[str]]
) -> list[RvTable]:
    """Each unit's radial velocities from the catalogue (``shift_rv``)."""
    if not config.shift_rv:
        return [RvTable(None) for _ in ids_of]
    if catalogue is None or "rv" not in catalogue.meta:
        if catalogue is None:
            raise ValueError("shift_rv: needs a label catalogue with an rv column")
        raise StarlabelInputError(
            "no rv column mapped (use --rv-column)", path=catalogue.path
        )
    rvs = catalogue.meta["rv"].astype(float)
    out = []
    for ids in ids_of:
        rows = catalogue.rows_for(ids)
        values = np.where(rows >= 0, rvs[np.maximum(rows, 0)], np.nan)
        out.append(RvTable(dict(zip(ids, values.tolist(), strict=True))))
    return out


@dataclass(frozen=True)
class MemoryWork:
    """Spectra already read (``prepare_spectra``), as one work unit."""

    raws: tuple[RawSpectrum, ...]

    def _valid(self, rejected: list[Rejected]) -> Iterator[RawSpectrum]:
        for raw in self.raws:
            try:
                yield raw.validate()
            except StarlabelInputError as err:
                rejected.append(Rejected.from_error(err))

    def scan(
        self,
    ) -> tuple[list[str], list[tuple[str, np.ndarray]], list[Rejected], list[Seen]]:
        rejected: list[Rejected] = []
        ids, grids, seen = scan_raws(self._valid(rejected))
        return ids, grids, rejected, seen

    def process(
        self, job: tuple[Grid, PrepareConfig, RvTable]
    ) -> tuple[Iterator, list]:
        rejected: list[Rejected] = []
        return process_raws(self._valid([]), *job, rejected), rejected
