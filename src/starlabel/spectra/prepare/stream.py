"""The two passes of ``prepare`` over the work units, yielding finished batches.

Files are read twice: a first pass learns which stars have several files and, when
no grid is given, the grid; the second pass resamples and yields batches, holding
in memory only stars still waiting for another setup.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ...errors import StarlabelInputError
from ..container import Spectra
from ..grids import Grid, coverable
from ..io.catalogue import LabelCatalogue
from .batch import finish_batch
from .config import PrepareConfig, PrepareReport
from .grid import inputs_grid, resolve_grid, to_medium
from .scan import (
    Mapper,
    Seen,
    call_process,
    call_process_list,
    call_scan,
    repeat_ids,
    rv_tables,
)
from .spectrum import default_normalise, join_setups

__all__ = ["stream"]


def stream(
    units: list[Any],
    catalogue: LabelCatalogue | None,
    config: PrepareConfig,
    report: PrepareReport,
    progress: Callable[[int, int], None] | None,
    mapper: Mapper = map,
) -> Iterator[Spectra]:
    """Scan every unit (ids, grids), fix the grid, then prepare every unit and yield
    batches of finished stars (a star observed in several units is joined)."""
    grid = resolve_grid(config)
    ids_of, seen_of, found, counts = _scan(units, report, mapper)
    if catalogue is not None:
        _check_matches(catalogue, counts)
    if grid is None:
        grid = inputs_grid(found, found[0][0])
    report.grid = grid
    names_of, report.repeat_of = repeat_ids(ids_of, seen_of, repeats=config.repeats)
    if config.normalise == "auto":
        _count_normalised(seen_of, report)
    observed = []
    for m, wl in found:
        lo_hi = to_medium(wl[[0, -1]], m, grid.medium)
        observed.append((float(lo_hi[0]), float(lo_hi[1])))
    expected = Counter(name for names in names_of for name in names)
    stars = _Stars(grid, catalogue, config, report, coverable(grid, observed), expected)
    jobs = [
        (unit, (grid, config, rv))
        for unit, rv in zip(units, rv_tables(catalogue, config, ids_of), strict=True)
    ]
    # in this process the items stay lazy; another process sends them as a list
    call = call_process if mapper is map else call_process_list
    for names, (items, rejects) in zip(names_of, mapper(call, jobs), strict=True):
        yield from stars.add(names, items, progress)
        report.rejected.extend(rejects)  # filled while the items were read
    yield from stars.close()


def _scan(
    units: list[Any], report: PrepareReport, mapper: Mapper
) -> tuple[list[list[str]], list[list[Seen]], list[tuple[str, np.ndarray]], Counter]:
    """The first pass: ids and what was seen per unit, the distinct input grids
    (``(medium, wavelength)``) and the count of each id."""
    counts: Counter = Counter()
    ids_of: list[list[str]] = []
    seen_of: list[list[Seen]] = []
    found: list[tuple[str, np.ndarray]] = []
    for ids, grids, rejects, seen in mapper(call_scan, units):
        report.rejected.extend(rejects)
        ids_of.append(ids)
        seen_of.append(seen)
        counts.update(ids)
        found += grids
    report.n_read = sum(counts.values())
    if not counts:
        scan_rejects = report.rejected
        reason = (
            f" ({scan_rejects[0].source}: {scan_rejects[0].reason})"
            if scan_rejects
            else ""
        )
        raise StarlabelInputError(f"no readable spectrum{reason}")
    return ids_of, seen_of, found, counts


def _check_matches(catalogue: LabelCatalogue, counts: Counter) -> None:
    """Some spectrum id is in the catalogue (else the id column is wrong)."""
    matched = catalogue.rows_for(list(counts)) >= 0
    if not matched.any():
        some = ", ".join(list(counts)[:3])
        raise StarlabelInputError(
            f"none of the {len(counts)} spectrum ids match the catalogue's ids "
            f"(spectra: {some}; catalogue: {', '.join(catalogue.ids[:3])}); check --id-column",
            path=catalogue.path,
        )


def _count_normalised(seen_of: list[list[Seen]], report: PrepareReport) -> None:
    """Spectra normalised by their format's default (``normalise="auto"``)."""
    for seen in seen_of:
        for s in seen:
            method = default_normalise(s.format)
            if method != "none":
                report.normalised[(s.format, method)] += 1


class _Stars:
    """Stars waiting for their other setups or units, and the batch of finished
    stars, written out every ``config.batch_size`` stars."""

    def __init__(
        self,
        grid: Grid,
        catalogue: LabelCatalogue | None,
        config: PrepareConfig,
        report: PrepareReport,
        reach: np.ndarray,
        expected: Counter,
    ) -> None:
        self.grid, self.catalogue, self.config = grid, catalogue, config
        self.report, self.reach, self.expected = report, reach, expected
        self.pending: dict[str, list] = {}
        self.batch: tuple[list, list, list, list] = ([], [], [], [])

    def add(
        self,
        names: list[str],
        items: Any,
        progress: Callable[[int, int], None] | None,
    ) -> Iterator[Spectra]:
        """One unit's prepared spectra (``names``: the id each is written under)."""
        report = self.report
        position = iter(names)
        for raw_id, result, source, setup in items:
            star = next(position, None)
            if star is None or report.repeat_of.get(star, star) != raw_id:
                raise StarlabelInputError(
                    "the file gave other spectra on the second reading than on the "
                    "first (changed while prepare ran?)",
                    path=source,
                )
            if progress is not None:
                progress(1, report.n_read)
            self.pending.setdefault(star, []).append(
                None if result is None else (result, source, setup)
            )
            if len(self.pending[star]) == self.expected[star]:
                self._complete(star)
                if len(self.batch[0]) >= self.config.batch_size:
                    yield from self._flush()

    def close(self) -> Iterator[Spectra]:
        """The stars still pending (a setup missing or failed), then the last batch."""
        for star in list(self.pending):
            self._complete(star)
        yield from self._flush()

    def _complete(self, star: str) -> None:
        parts = self.pending.pop(star)
        good = [p for p in parts if p is not None]
        if not good:
            return
        batch = self.batch
        batch[0].append(star)
        batch[1].append(join_setups([g[0] for g in good]))
        batch[2].append(";".join(sorted({g[1] for g in good})))
        batch[3].append("+".join(sorted({g[2] for g in good if g[2]})))

    def _flush(self) -> Iterator[Spectra]:
        batch = self.batch
        if batch[0]:
            sp = finish_batch(
                *batch,
                self.grid,
                self.catalogue,
                self.config,
                self.report,
                self.reach,
            )
            for part in batch:
                part.clear()
            if sp is not None:
                self.report.n_written += sp.n_spectra
                yield sp
