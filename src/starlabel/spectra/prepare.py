"""``prepare``: survey files + label catalogue -> one dataset file on a common grid.

The chain, per raw spectrum: validate -> clean spikes and bad pixels -> continuum
normalisation (optional, for un-normalised inputs) -> convert to the grid's medium ->
shift to the rest frame (catalogue RV) -> flux-conserving resampling onto the grid.
Spectra of the same star from several setups (HR10 and HR21 files) are joined on the
grid (inverse-variance weighted where they overlap). Then labels are joined from the
catalogue, masked pixels filled, flags set and the quality cuts applied.

Non-physical flux is masked twice: on the raw spectrum, before cleaning and
resampling can spread it, pixels that are not finite or exceed 1000 times the
spectrum's median absolute flux (scale-free, for any flux unit); on the grid, where
the flux is continuum-normalised, pixels outside [-1, 10]. Both are counted in
:attr:`PrepareReport.n_nonphysical` and set :attr:`Flag.NONPHYSICAL_FLUX`; a
spectrum most of whose pixels fail the second rule is not normalised and is skipped
with that reason (use ``normalise``).

Files are read twice: a first pass learns which stars have several files and, when
no grid is given, the grid; the second pass resamples and writes in batches, holding
in memory only stars still waiting for another setup. Bad files and bad stars are
skipped, each with a one-line reason in the report; the rest is written.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import astropy.units as u
import numpy as np

from .._atomic import DATASET_SUFFIXES, check_output
from .._typing import PathLike
from ..errors import StarlabelInputError
from .container import Spectra
from .flags import Flag
from .grids import Grid, named_grid, split_segments
from .io.catalogue import LabelCatalogue
from .io.hdf5 import write_batches
from .io.registry import Rejected, iter_raw
from .preprocess import (
    air_to_vacuum,
    clean_spikes,
    fill_masked,
    nonphysical_flux,
    normalise_continuum,
    quality_mask,
    resample_to_grid,
    shift_to_rest,
    vacuum_to_air,
)
from .raw import RawSpectrum

__all__ = [
    "PrepareConfig",
    "PrepareReport",
    "prepare_files",
    "prepare_spectra",
    "infer_grid",
]

log = logging.getLogger(__name__)
MANY_MASKED_FRACTION = 0.10
NOT_NORMALISED_FRACTION = 0.5


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
        normalise: ``"none"`` for already normalised inputs, else the continuum method.
        fill: how masked pixels are filled in the file (their ivar stays 0).
        min_coverage: fraction of an output pixel unmasked input must cover.
        min_snr: drop spectra with a lower S/N (after resampling).
        max_label_err: label -> largest accepted catalogue uncertainty.
        flag_column: catalogue meta column whose non-empty / non-zero values drop a star.
        batch_size: spectra per write.
    """

    grid: str | Grid | None = None
    shift_rv: bool = False
    clean: bool = True
    spike_sigma: float = 5.0
    normalise: Literal["none", "percentile", "polynomial"] = "none"
    fill: Literal["interp", "one", "mean"] = "interp"
    min_coverage: float = 0.5
    min_snr: float | None = None
    max_label_err: Mapping[str, float] = field(default_factory=dict)
    flag_column: str | None = None
    batch_size: int = 512

    def __post_init__(self) -> None:
        if self.normalise not in ("none", "percentile", "polynomial"):
            raise ValueError(
                f"normalise: expected none, percentile or polynomial, got {self.normalise!r}"
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

    def summary(self) -> str:
        return (
            f"{self.n_written} spectra written, {len(self.rejected)} skipped, "
            f"{self.n_without_labels} without catalogue labels"
        )


# ---------------------------------------------------------------- the grid
def _in_medium(raw: RawSpectrum, medium: str) -> np.ndarray:
    if raw.medium == medium:
        return raw.wavelength
    return (
        air_to_vacuum(raw.wavelength)
        if medium == "vacuum"
        else vacuum_to_air(raw.wavelength)
    )


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


def _resolve_grid(config: PrepareConfig) -> Grid | None:
    if isinstance(config.grid, Grid) or config.grid is None:
        return config.grid
    path = Path(config.grid)
    if path.exists():
        from .grids import grid_from_file

        return grid_from_file(path)
    return named_grid(config.grid)


# ------------------------------------------------------------ per spectrum
def _process_raw(raw: RawSpectrum, grid: Grid, config: PrepareConfig, rv: float | None):
    """One raw spectrum onto the grid: (flux, ivar, coverage, n non-physical pixels)."""
    flux, ivar = raw.flux, raw.ivar
    bad = nonphysical_flux(flux, normalised=False)
    # NaN is how readers and archives deliver a missing pixel (dead column, gap):
    # masked like any other, not counted; infinities and absurd values are faults.
    n_bad = int((bad & ~np.isnan(flux)).sum())
    if bad.any():
        # NaN flux with ivar 0: cleaning replaces it, resampling gives it no weight.
        flux = np.where(bad, np.nan, flux)
        ivar = np.where(bad, 0.0, ivar)
    if config.clean:
        flux, ivar = clean_spikes(flux, ivar, n_sigma=config.spike_sigma)
    if config.normalise != "none":
        flux, ivar, _ = normalise_continuum(
            raw.wavelength, flux, ivar, method=config.normalise
        )
    wl = _in_medium(raw, grid.medium)
    if rv is not None:
        wl = shift_to_rest(wl, rv)
    fo, io, _ = resample_to_grid(wl, flux, ivar, grid, min_coverage=config.min_coverage)
    # Which grid pixels the spectrum's wavelength range reaches (gaps excluded),
    # as opposed to pixels masked for bad data.
    target = grid.wavelength
    co = np.zeros(target.size, dtype=bool)
    for seg in split_segments(wl):
        co |= (target >= seg[0]) & (target <= seg[-1])
    if not np.any(io > 0):
        lo, hi = wl[0], wl[-1]
        raise raw.fail(
            f"spectrum covers {lo:.1f}-{hi:.1f} A, which does not overlap the grid "
            f"{grid.wavelength[0]:.1f}-{grid.wavelength[-1]:.1f} A"
        )
    return fo, io, co, n_bad


def _join(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, int]]):
    """Inverse-variance weighted mean of several setups on the same grid."""
    if len(parts) == 1:
        return parts[0]
    f = np.stack([p[0] for p in parts])
    iv = np.stack([p[1] for p in parts])
    cov = np.any(np.stack([p[2] for p in parts]), axis=0)
    n_bad = sum(p[3] for p in parts)
    w = np.where(iv > 0, iv, 0.0)
    wsum = w.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        flux = np.where(
            wsum > 0, np.nansum(np.where(w > 0, f, 0.0) * w, axis=0) / wsum, np.nan
        )
    return flux, wsum, cov, n_bad


# --------------------------------------------------------------- the chain
def _finish_batch(
    ids: list[str],
    rows: list[tuple[np.ndarray, np.ndarray, np.ndarray, int]],
    sources: list[str],
    setups: list[str],
    grid: Grid,
    catalogue: LabelCatalogue | None,
    config: PrepareConfig,
    report: PrepareReport,
) -> Spectra | None:
    flux = np.stack([r[0] for r in rows])
    ivar = np.stack([r[1] for r in rows])
    cov = np.stack([r[2] for r in rows])
    n_bad = np.array([r[3] for r in rows], dtype=np.int64)
    flags = np.zeros(len(ids), dtype=np.int64)
    # On the grid the flux is continuum-normalised: the dataset reader's rule.
    data = ivar > 0
    bad = nonphysical_flux(flux, normalised=True) & data
    n_data = data.sum(axis=1)
    not_normalised = bad.sum(axis=1) > NOT_NORMALISED_FRACTION * np.maximum(n_data, 1)
    n_bad += np.where(not_normalised, 0, bad.sum(axis=1))
    ivar = np.where(bad, 0.0, ivar)
    flux = np.where(bad, np.nan, flux)
    flags[n_bad > 0] |= Flag.NONPHYSICAL_FLUX
    report.n_nonphysical += int(n_bad[~not_normalised].sum())
    flags[~cov.all(axis=1)] |= Flag.PARTIAL_COVERAGE
    flags[(ivar <= 0).mean(axis=1) > MANY_MASKED_FRACTION] |= Flag.MANY_MASKED
    labels: dict[str, np.ndarray] = {}
    labels_err: dict[str, np.ndarray] = {}
    meta: dict[str, Any] = {
        "id": np.asarray(ids),
        "source": np.asarray(sources),
        "setup": np.asarray(setups),
    }
    if catalogue is not None:
        labels, labels_err, cat_meta, found = catalogue.take(ids)
        flags[~found] |= Flag.NO_LABELS
        report.n_without_labels += int((~found).sum())
        meta.update(cat_meta)
    sp = Spectra(
        fill_masked(flux, ivar, method=config.fill).astype(np.float32),
        grid.wavelength * u.AA,
        ivar.astype(np.float32),
        labels,
        labels_err=labels_err,
        meta=meta,
        medium=grid.medium,
        rest_frame=config.shift_rv,
        setup=grid.name,
    )
    snr = sp.snr()
    sp.meta["snr"] = snr
    keep, reasons = quality_mask(
        sp,
        min_snr=config.min_snr,
        max_label_err=config.max_label_err,
        flag_column=config.flag_column,
    )
    flags[~np.isfinite(snr)] |= Flag.NOT_PROCESSED
    sp.meta["flag"] = flags
    for i in np.flatnonzero(not_normalised):
        keep[i] = False
        reasons[i] = (
            f"{bad[i].sum()} of {n_data[i]} pixels have flux outside [-1, 10]: the "
            "spectrum is not continuum-normalised"
            + ("; use --normalise" if config.normalise == "none" else "")
        )
    for i in np.flatnonzero(~keep):
        report.rejected.append(Rejected(sources[i], ids[i], reasons[i]))
    if not keep.any():
        return None
    sp = sp[keep]
    for bit in Flag:
        report.flag_counts[bit.name] += int(((sp.meta["flag"] & bit) != 0).sum())
    return sp


#: An ordered map over work units: ``mapper(fn, units) -> iterator of fn(unit)`` in
#: the order of ``units`` (the builtin ``map``, or a pool of processes).
Mapper = Callable[[Callable[[Any], Any], list[Any]], Iterator[Any]]


@dataclass(frozen=True)
class _RvTable:
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


def _scan_raws(
    raws: Iterable[RawSpectrum],
) -> tuple[list[str], list[tuple[str, np.ndarray]]]:
    """Ids in order, and each distinct wavelength grid with its medium."""
    ids: list[str] = []
    grids: dict[tuple, tuple[str, np.ndarray]] = {}
    for raw in raws:
        ids.append(raw.id)
        wl = raw.wavelength
        key = (raw.medium, wl.size, round(float(wl[0]), 6), round(float(wl[-1]), 6))
        grids.setdefault(key, (raw.medium, wl))
    return ids, list(grids.values())


def _process_raws(
    raws: Iterable[RawSpectrum],
    grid: Grid,
    config: PrepareConfig,
    rv_of: Callable[[RawSpectrum], float | None],
    rejected: list[Rejected],
) -> Iterator[tuple[str, Any, str, str]]:
    """(id, resampled row or None, source file name, setup) per raw spectrum, lazily
    (a file of 10^5 spectra is never held whole in this process)."""
    for raw in raws:
        try:
            result = _process_raw(raw, grid, config, rv_of(raw))
        except StarlabelInputError as err:
            rejected.append(
                Rejected.from_error(err.with_context(path=raw.source, star=raw.id))
            )
            result = None
        yield raw.id, result, raw.source.name, raw.setup


@dataclass(frozen=True)
class _FileWork:
    """Raw files for a worker, in order: read and scan them, or read and prepare."""

    paths: tuple[str, ...]
    format: str | None
    options: dict[str, Any]

    def raws(self, rejected: list[Rejected]) -> Iterator[RawSpectrum]:
        return iter_raw(
            list(self.paths), self.format, rejected=rejected, **self.options
        )

    def scan(self) -> tuple[list[str], list[tuple[str, np.ndarray]], list[Rejected]]:
        rejected: list[Rejected] = []
        ids, grids = _scan_raws(self.raws(rejected))
        return ids, grids, rejected

    def process(
        self, job: tuple[Grid, PrepareConfig, _RvTable]
    ) -> tuple[Iterator, list]:
        """Items (lazy) and the list their rejects go to as they are prepared (read
        failures were counted by the scan)."""
        rejected: list[Rejected] = []
        return _process_raws(self.raws([]), *job, rejected), rejected


def _stream(
    units: list[Any],
    catalogue: LabelCatalogue | None,
    config: PrepareConfig,
    report: PrepareReport,
    progress: Callable[[int, int], None] | None,
    mapper: Mapper = map,
) -> Iterator[Spectra]:
    """Scan every unit (ids, grids), fix the grid, then prepare every unit and yield
    batches of finished stars (a star observed in several units is joined)."""
    grid = _resolve_grid(config)
    counts: Counter = Counter()
    ids_of: list[list[str]] = []
    found: list[tuple[str, np.ndarray]] = []
    for ids, grids, rejects in mapper(_call_scan, units):
        report.rejected.extend(rejects)
        ids_of.append(ids)
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
    if catalogue is not None:
        matched = catalogue.rows_for(list(counts)) >= 0
        if not matched.any():
            some = ", ".join(list(counts)[:3])
            raise StarlabelInputError(
                f"none of the {len(counts)} spectrum ids match the catalogue's ids "
                f"(spectra: {some}; catalogue: {', '.join(catalogue.ids[:3])}); check --id-column",
                path=catalogue.path,
            )
    medium = grid.medium if grid else found[0][0]
    if grid is None:
        seen: dict[tuple, np.ndarray] = {}
        for m, wl in found:
            wl = (
                wl
                if m == medium
                else air_to_vacuum(wl)
                if medium == "vacuum"
                else vacuum_to_air(wl)
            )
            seen.setdefault(
                (wl.size, round(float(wl[0]), 6), round(float(wl[-1]), 6)), wl
            )
        grid = infer_grid(list(seen.values()), medium)
    report.grid = grid
    rv_tables = _rv_tables(catalogue, config, ids_of)
    pending: dict[str, list] = {}
    expected = dict(counts)
    batch: tuple[list, list, list, list] = ([], [], [], [])

    def complete(star: str) -> None:
        parts = pending.pop(star)
        good = [p for p in parts if p is not None]
        if not good:
            return
        batch[0].append(star)
        batch[1].append(_join([g[0] for g in good]))
        batch[2].append(";".join(sorted({g[1] for g in good})))
        batch[3].append("+".join(sorted({g[2] for g in good if g[2]})))

    def flush() -> Iterator[Spectra]:
        if batch[0]:
            sp = _finish_batch(*batch, grid, catalogue, config, report)
            for part in batch:
                part.clear()
            if sp is not None:
                report.n_written += sp.n_spectra
                yield sp

    jobs = [
        (unit, (grid, config, rv)) for unit, rv in zip(units, rv_tables, strict=True)
    ]
    # in this process the items stay lazy; another process sends them as a list
    call = _call_process if mapper is map else _call_process_list
    for items, rejects in mapper(call, jobs):
        for star, result, source, setup in items:
            if star not in expected:
                continue
            if progress is not None:
                progress(1, report.n_read)
            pending.setdefault(star, []).append(
                None if result is None else (result, source, setup)
            )
            if len(pending[star]) == expected[star]:
                complete(star)
                if len(batch[0]) >= config.batch_size:
                    yield from flush()
        report.rejected.extend(rejects)  # filled while the items were read
    for star in list(pending):
        complete(star)
    yield from flush()


def _call_scan(unit: Any) -> Any:
    return unit.scan()


def _call_process(job: tuple[Any, Any]) -> Any:
    return job[0].process(job[1])


def _call_process_list(job: tuple[Any, Any]) -> Any:
    items, rejects = job[0].process(job[1])
    items = list(items)
    return items, rejects


def _rv_tables(
    catalogue: LabelCatalogue | None, config: PrepareConfig, ids_of: list[list[str]]
) -> list[_RvTable]:
    """Each unit's radial velocities from the catalogue (``shift_rv``)."""
    if not config.shift_rv:
        return [_RvTable(None) for _ in ids_of]
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
        out.append(_RvTable(dict(zip(ids, values.tolist(), strict=True))))
    return out


@dataclass(frozen=True)
class _MemoryWork:
    """Spectra already read (``prepare_spectra``), as one work unit."""

    raws: tuple[RawSpectrum, ...]

    def _valid(self, rejected: list[Rejected]) -> Iterator[RawSpectrum]:
        for raw in self.raws:
            try:
                yield raw.validate()
            except StarlabelInputError as err:
                rejected.append(Rejected.from_error(err))

    def scan(self) -> tuple[list[str], list[tuple[str, np.ndarray]], list[Rejected]]:
        rejected: list[Rejected] = []
        ids, grids = _scan_raws(self._valid(rejected))
        return ids, grids, rejected

    def process(
        self, job: tuple[Grid, PrepareConfig, _RvTable]
    ) -> tuple[Iterator, list]:
        rejected: list[Rejected] = []
        return _process_raws(self._valid([]), *job, rejected), rejected


def files_per_task(n_files: int) -> int:
    """Raw files per task for a pool of processes: about 64 tasks per pass, at most
    256 files each (bounded memory of a task's results).

    Example:
        >>> files_per_task(10), files_per_task(2000), files_per_task(10**6)
        (1, 32, 256)
    """
    return max(1, min(256, -(-n_files // 64)))


def prepare_files(
    paths: Iterable[PathLike],
    output: PathLike,
    *,
    format: str | None = None,
    reader_options: Mapping[str, Any] | None = None,
    catalogue: LabelCatalogue | None = None,
    config: PrepareConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
    mapper: Mapper | None = None,
    overwrite: bool = False,
) -> PrepareReport:
    """Read survey files, prepare them and write a dataset file (atomically).

    Args:
        paths: files (directories and globs are expanded by the caller or here).
        output: the ``.h5`` / ``.hdf5`` dataset to write; checked before any work.
        format: reader name (``ges``, ``apogee-apstar``, ``gaia-rvs``, ``table``) or
            ``None`` to identify each file.
        reader_options: keyword options for the reader (column names, medium).
        catalogue: labels to join by id (and RVs for ``shift_rv``).
        config: the chain's settings.
        progress: called as ``progress(1, total)`` after each raw spectrum of the
            second pass (``total`` = spectra found by the first pass).
        mapper: runs the per-file work (reading, cleaning, normalising,
            resampling): ``mapper(fn, files) -> results in order``; default the
            builtin ``map`` (this process), or a pool of processes
            (``starlabel prepare --workers``). The result is the same.
        overwrite: replace an existing output file.

    Returns:
        A :class:`PrepareReport`; skipped spectra are listed there, not raised.

    Raises:
        StarlabelInputError: a bad output path (wrong extension, a directory, an
            unwritable folder, an existing file without ``overwrite``), or when
            nothing at all can be prepared (no readable spectrum, no id matching
            the catalogue, every spectrum cut).
    """
    from .io.registry import expand_paths

    check_output(output, overwrite=overwrite, suffixes=DATASET_SUFFIXES)
    config = config or PrepareConfig()
    files = expand_paths(paths)
    report = PrepareReport()
    options = dict(reader_options or {})
    # a pool gets groups of files: a task of one small file costs more in shipping
    # and scheduling than its work (70 files/s here in one process, 33 on one
    # Dask worker with a file per task)
    group = 1 if mapper is None or mapper is map else files_per_task(len(files))
    units = [
        _FileWork(tuple(str(f) for f in files[i : i + group]), format, options)
        for i in range(0, len(files), group)
    ]
    batches = _stream(units, catalogue, config, report, progress, mapper or map)
    if write_batches(output, batches, overwrite=overwrite) == 0:
        reasons = Counter(r.reason for r in report.rejected).most_common(1)
        why = f" (most common reason: {reasons[0][0]})" if reasons else ""
        raise StarlabelInputError(
            f"no spectrum passed; nothing written{why}", path=output
        )
    return report


def prepare_spectra(
    raws: Iterable[RawSpectrum],
    *,
    catalogue: LabelCatalogue | None = None,
    config: PrepareConfig | None = None,
) -> tuple[Spectra, PrepareReport]:
    """In-memory version of :func:`prepare_files` for spectra already read.

    Raises:
        StarlabelInputError: when nothing at all can be prepared.
    """
    config = config or PrepareConfig()
    report = PrepareReport()
    parts = list(_stream([_MemoryWork(tuple(raws))], catalogue, config, report, None))
    if not parts:
        raise StarlabelInputError("no spectrum passed the preparation and cuts")
    return Spectra.concatenate(parts), report
