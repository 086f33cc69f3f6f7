"""``prepare`` from files (to a dataset file) or from spectra already read."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..._typing import PathLike
from ...errors import StarlabelInputError
from ..container import Spectra
from ..io.catalogue import LabelCatalogue
from ..io.registry import expand_paths
from ..raw import RawSpectrum
from .config import PrepareConfig, PrepareReport
from .outputs import check_outputs, write_outputs
from .scan import FileWork, Mapper, MemoryWork
from .stream import stream

__all__ = ["files_per_task", "prepare_files", "prepare_spectra"]


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
        FileWork(tuple(str(f) for f in files[i : i + group]), format, options)
        for i in range(0, len(files), group)
    ]
    batches = stream(units, catalogue, config, report, progress, mapper or map)
    write_outputs(
        batches, report, output, rejected_path, pairs_path, overwrite=overwrite
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
    parts = list(stream([MemoryWork(tuple(raws))], catalogue, config, report, None))
    if not parts:
        raise StarlabelInputError("no spectrum passed the preparation and cuts")
    return Spectra.concatenate(parts), report
