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

import csv
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import Any, Literal

import astropy.units as u
import numpy as np

from .._atomic import DATASET_SUFFIXES, atomic_path, check_output, crash_point
from .._owned import text_marker
from .._typing import PathLike
from ..errors import StarlabelInputError
from .container import Spectra
from .flags import Flag
from .grids import Grid, coverable, named_grid, split_segments
from .io.catalogue import LabelCatalogue
from .io.hdf5 import DatasetWriter
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
    "check_outputs",
    "rejected_path_of",
    "repeat_pairs",
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
def default_normalise(format: str | None) -> str:
    """The continuum normalisation of ``normalise="auto"`` for a reader's spectra."""
    from .io.registry import READERS, _load_builtin_readers

    _load_builtin_readers()
    info = READERS.get(format or "")
    return info.normalise if info is not None else "none"


def _method(raw: RawSpectrum, config: PrepareConfig) -> str:
    if config.normalise != "auto":
        return config.normalise
    return default_normalise(raw.meta.get("format"))


def _process_raw(raw: RawSpectrum, grid: Grid, config: PrepareConfig, rv: float | None):
    """One raw spectrum onto the grid: (flux, ivar, coverage, n non-physical pixels).

    The coverage is that of the observed wavelength range (before the shift to the
    rest frame): the pixels a shift moves off the edge are masked, not missing.
    """
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
    method = _method(raw, config)
    if method != "none":
        flux, ivar, _ = normalise_continuum(raw.wavelength, flux, ivar, method=method)
    observed = _in_medium(raw, grid.medium)
    wl = observed if rv is None else shift_to_rest(observed, rv)
    fo, io, _ = resample_to_grid(wl, flux, ivar, grid, min_coverage=config.min_coverage)
    # Which grid pixels the spectrum's wavelength range reaches (gaps excluded),
    # as opposed to pixels masked for bad data.
    target = grid.wavelength
    co = np.zeros(target.size, dtype=bool)
    for seg in split_segments(observed):
        co |= (target >= seg[0]) & (target <= seg[-1])
    if not np.any(io > 0):
        lo, hi = wl[0], wl[-1]
        span = ", ".join(f"{g[0]:.1f}-{g[-1]:.1f}" for g in grid.segments)
        if (hi < target[0]) or (lo > target[-1]) or not co.any():
            raise raw.fail(
                f"spectrum covers {lo:.1f}-{hi:.1f} A, which does not overlap the "
                f"grid ({span} A)"
            )
        raise raw.fail(
            f"no usable pixel on the grid ({span} A): every pixel of the spectrum "
            f"there ({lo:.1f}-{hi:.1f} A) is masked (zero, non-finite or without "
            "noise); wrong --format?"
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
    reach: np.ndarray | None = None,
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
    # partial: missing pixels the star's setups could have covered (a named grid
    # may reach beyond its setups: HR21 starts at 8484 A, the Ambrosch grid at 8480)
    reach = np.ones(cov.shape[1], dtype=bool) if reach is None else reach
    flags[(~cov & reach).any(axis=1)] |= Flag.PARTIAL_COVERAGE
    flags[(ivar <= 0).mean(axis=1) > MANY_MASKED_FRACTION] |= Flag.MANY_MASKED
    labels: dict[str, np.ndarray] = {}
    labels_err: dict[str, np.ndarray] = {}
    meta: dict[str, Any] = {
        "id": np.asarray(ids),
        "source": np.asarray(sources),
        "setup": np.asarray(setups),
    }
    if catalogue is not None:
        stars = [report.repeat_of.get(i, i) for i in ids]
        labels, labels_err, cat_meta, found = catalogue.take(stars)
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
            + ("; use --normalise" if config.normalise in ("none", "auto") else "")
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


@dataclass(frozen=True, slots=True)
class _Seen:
    """What the first pass keeps of a spectrum: enough to tell repeats apart."""

    setup: str
    source: str
    lo: float
    hi: float
    format: str

    def same_setup(self, other: _Seen) -> bool:
        """Two spectra of one id are of one setup: the same named setup, or (a
        setup unknown) overlapping wavelength ranges."""
        if self.setup and other.setup:
            return self.setup == other.setup
        return self.lo <= other.hi and other.lo <= self.hi


def _scan_raws(
    raws: Iterable[RawSpectrum],
) -> tuple[list[str], list[tuple[str, np.ndarray]], list[_Seen]]:
    """Ids in order, each distinct wavelength grid with its medium, and per spectrum
    its setup, file, wavelength range and format."""
    ids: list[str] = []
    seen: list[_Seen] = []
    grids: dict[tuple, tuple[str, np.ndarray]] = {}
    for raw in raws:
        ids.append(raw.id)
        wl = raw.wavelength
        key = (raw.medium, wl.size, round(float(wl[0]), 6), round(float(wl[-1]), 6))
        grids.setdefault(key, (raw.medium, wl))
        seen.append(
            _Seen(
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
    ids_of: list[list[str]], seen_of: list[list[_Seen]], *, repeats: bool
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
    slots: dict[str, list[list[_Seen]]] = {}
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

    def scan(
        self,
    ) -> tuple[list[str], list[tuple[str, np.ndarray]], list[Rejected], list[_Seen]]:
        rejected: list[Rejected] = []
        ids, grids, seen = _scan_raws(self.raws(rejected))
        return ids, grids, rejected, seen

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
    seen_of: list[list[_Seen]] = []
    found: list[tuple[str, np.ndarray]] = []
    for ids, grids, rejects, seen in mapper(_call_scan, units):
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
    names_of, report.repeat_of = repeat_ids(ids_of, seen_of, repeats=config.repeats)
    if config.normalise == "auto":
        for seen in seen_of:
            for s in seen:
                method = default_normalise(s.format)
                if method != "none":
                    report.normalised[(s.format, method)] += 1
    observed = []
    for m, wl in found:
        lo_hi = wl[[0, -1]]
        if m != grid.medium:
            lo_hi = (
                air_to_vacuum(lo_hi)
                if grid.medium == "vacuum"
                else vacuum_to_air(lo_hi)
            )
        observed.append((float(lo_hi[0]), float(lo_hi[1])))
    reach = coverable(grid, observed)
    rv_tables = _rv_tables(catalogue, config, ids_of)
    pending: dict[str, list] = {}
    expected = Counter(name for names in names_of for name in names)
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
            sp = _finish_batch(*batch, grid, catalogue, config, report, reach)
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
    for names, (items, rejects) in zip(names_of, mapper(call, jobs), strict=True):
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

    def scan(
        self,
    ) -> tuple[list[str], list[tuple[str, np.ndarray]], list[Rejected], list[_Seen]]:
        rejected: list[Rejected] = []
        ids, grids, seen = _scan_raws(self._valid(rejected))
        return ids, grids, rejected, seen

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
    pairs_out: PathLike | None = None,
) -> PrepareReport:
    """Read survey files, prepare them and write a dataset file (atomically).

    Skipped spectra are listed beside the dataset in ``<output>.rejected.csv``
    (source, star, reason; first line a ``# written by starlabel`` comment); with
    ``pairs_out`` (and ``config.repeats``) the pairs of written spectra of one star
    go to that CSV (``id1,id2``, as ``starlabel calibrate --pairs`` reads). The
    dataset and these files appear together: they are complete in temporary files
    before the first is put in place, the dataset last. A run killed in between
    leaves no dataset, only lists of ours, which the next run replaces.

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
        overwrite: replace an existing output file (of starlabel's: a file
            without starlabel's marker is never replaced).
        pairs_out: CSV file for the repeat pairs (needs ``config.repeats``).

    Returns:
        A :class:`PrepareReport`; skipped spectra are listed there, not raised.

    Raises:
        StarlabelInputError: a bad output path (wrong extension, a directory, an
            unwritable folder, an existing file without ``overwrite``), or when
            nothing at all can be prepared (no readable spectrum, no id matching
            the catalogue, every spectrum cut).
    """
    from .io.registry import expand_paths

    config = config or PrepareConfig()
    output, rejected_path, pairs_path = check_outputs(
        output, overwrite=overwrite, pairs_out=pairs_out, repeats=config.repeats
    )
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
    writer: DatasetWriter | None = None
    written: list[str] = []
    placed: list[Path] = []
    try:
        for batch in batches:
            if writer is None:
                writer = DatasetWriter(output, batch, overwrite=overwrite)
            writer.append(batch)
            if report.repeat_of:
                written += batch.ids.tolist()
        if writer is None:
            reasons = Counter(r.reason for r in report.rejected).most_common(1)
            why = f" (most common reason: {reasons[0][0]})" if reasons else ""
            raise StarlabelInputError(
                f"no spectrum passed; nothing written{why}", path=output
            )
        writer.finish()
        report.pairs = repeat_pairs(written, report.repeat_of)
        if output.exists():  # ours, and --overwrite: never beside the new lists
            output.unlink()
        if pairs_path is not None:
            report.pairs_file = _write_csv(
                pairs_path,
                ["id1", "id2"],
                report.pairs,
                note=_pairs_note(output)[2:],
            )
            placed.append(pairs_path)
        report.rejected_file = _write_rejected(rejected_path, report.rejected)
        if report.rejected_file is not None:
            placed.append(report.rejected_file)
        crash_point("between")
        writer.commit()
    except BaseException:
        if writer is not None:
            writer.abort()
        for path in placed:  # lists of a dataset that did not appear
            path.unlink(missing_ok=True)
        raise
    return report


def rejected_path_of(output: PathLike) -> Path:
    """``<output>.rejected.csv``: where ``prepare`` lists the skipped spectra."""
    return Path(output).with_name(Path(output).name + ".rejected.csv")


def check_outputs(
    output: PathLike,
    *,
    overwrite: bool,
    pairs_out: PathLike | None = None,
    repeats: bool = False,
) -> tuple[Path, Path, Path | None]:
    """Check the dataset, its rejected list and the pairs file before any work.

    The rejected list beside the dataset follows the dataset: an earlier list of
    starlabel's is replaced with it (or, the dataset missing, is the leftover of
    an interrupted run); a file there that starlabel did not write is refused. The
    pairs file needs ``--overwrite`` unless it is such a leftover of ours (its
    note names this dataset, which is missing).

    Returns:
        the dataset, rejected-list and pairs paths.

    Raises:
        StarlabelInputError: one line naming the path that cannot be written.
    """
    output = check_output(output, overwrite=overwrite, suffixes=DATASET_SUFFIXES)
    rejected = check_output(rejected_path_of(output), overwrite=True)
    pairs = None
    if pairs_out is not None:
        if not repeats:
            raise ValueError("--pairs-out: needs --repeats (pairs of repeat spectra)")
        pairs = Path(pairs_out)
        if pairs.absolute() in (output.absolute(), rejected.absolute()):
            raise StarlabelInputError(
                "the pairs file must differ from the dataset and its rejected list",
                path=pairs,
            )
        stale = not output.exists() and _note_of(pairs) == _pairs_note(output)
        check_output(pairs, overwrite=overwrite or stale, suffixes=(".csv",))
    return output, rejected, pairs


def repeat_pairs(
    written: Sequence[str], repeat_of: Mapping[str, str]
) -> list[tuple[str, str]]:
    """``(first, other)`` for each written repeat of a star whose first spectrum
    (or an earlier repeat, if the first was cut) was written too."""
    by_star: dict[str, list[str]] = {}
    repeated = set(repeat_of.values())
    for name in written:
        star = repeat_of.get(name, name)
        if star in repeated:
            by_star.setdefault(star, []).append(name)
    return [(names[0], other) for names in by_star.values() for other in names[1:]]


def _pairs_note(output: Path) -> str:
    return f"# pairs of spectra of one star in {output.name}"


def _note_of(path: Path) -> str | None:
    """The second line of a text file of ours, if it is one."""
    from .._owned import is_ours

    if not path.is_file() or not is_ours(path):
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            fh.readline()
            return fh.readline().rstrip("\n")
    except (OSError, UnicodeDecodeError):
        return None


def _write_csv(
    path: Path, header: list[str], rows: Iterable[Sequence[Any]], *, note: str = ""
) -> Path:
    """A CSV file of ours, atomically: the marker line, a note, the table."""
    buf = StringIO()
    buf.write(text_marker() + "\n")
    if note:
        buf.write(f"# {note}\n")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    with atomic_path(path) as tmp:
        tmp.write_text(buf.getvalue(), encoding="utf-8")
    return path


def _write_rejected(path: Path, rejected: Sequence[Rejected]) -> Path | None:
    """List the skipped spectra; remove an earlier list (ours) when none was skipped,
    so that the list always describes the dataset beside it."""
    if not rejected:
        path.unlink(missing_ok=True)
        return None
    rows = ((r.source, r.star, r.reason) for r in rejected)
    return _write_csv(path, ["source", "star", "reason"], rows)


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
