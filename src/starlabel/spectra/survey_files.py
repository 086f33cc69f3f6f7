"""From survey files and a label catalogue to a dataset file, with the list of
skipped spectra beside it: the whole of ``starlabel prepare`` (and of the demo's
preparation step)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .._atomic import atomic_path
from .._typing import PathLike

__all__ = ["prepare_survey", "write_rejected"]


def write_rejected(path: PathLike, rejected: Sequence[Any]) -> Path | None:
    """Write the skipped spectra (source, star, reason) as ``<output>.rejected.csv``.

    An earlier list of ours is removed when nothing was skipped this time, so the
    file always describes the dataset beside it.
    """
    target = Path(path).with_name(Path(path).name + ".rejected.csv")
    if not rejected:
        target.unlink(missing_ok=True)
        return None
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["source", "star", "reason"])
    for r in rejected:
        writer.writerow([r.source, r.star, r.reason])
    with atomic_path(target) as tmp:
        tmp.write_text(buf.getvalue(), encoding="utf-8")
    return target


def prepare_survey(
    files: Sequence[str],
    output: PathLike,
    *,
    format: str | None = None,
    reader_options: dict[str, Any] | None = None,
    labels: PathLike | None = None,
    id_column: str | None = None,
    mapping: Sequence[str] = (),
    rv_column: str | None = None,
    abundance_scale: str = "x_fe",
    config: dict[str, Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
    mapper: Callable | None = None,
    overwrite: bool = False,
) -> tuple[Any, Path | None]:
    """Read, prepare and write a dataset; list the skipped spectra beside it.

    Args:
        files: spectrum files, directories or glob patterns.
        output: dataset file (.h5).
        format: reader name (default: identified per file from its content).
        reader_options: options of the reader (columns, medium, unit).
        labels: label catalogue (FITS, CSV, Parquet), with ``id_column``.
        mapping: ``COLUMN=label`` entries for the catalogue.
        rv_column: catalogue RV column [km/s]: spectra are shifted to rest frame.
        abundance_scale: store abundances as ``x_fe``, ``x_h`` or ``a``.
        config: further :class:`PrepareConfig` settings (grid, cuts, ...).
        progress: ``progress(n_done, total)``.
        mapper: runs the per-file work (see :func:`~.prepare.prepare_files`).
        overwrite: replace an existing dataset file.

    Returns:
        the prepare report and the rejected-spectra file (None if none).
    """
    from .._atomic import DATASET_SUFFIXES, check_output
    from .io.catalogue import read_catalogue
    from .prepare import PrepareConfig, prepare_files

    check_output(output, overwrite=overwrite, suffixes=DATASET_SUFFIXES)

    catalogue = None
    if labels is not None:
        if not id_column:
            raise ValueError(
                "--id-column: required with --labels (the catalogue column holding the ids)"
            )
        full_map = list(mapping) + ([f"{rv_column}=rv"] if rv_column else [])
        catalogue = read_catalogue(
            labels,
            id_column=id_column,
            mapping=full_map,
            abundance_scale=abundance_scale,
        )
    elif rv_column:
        raise ValueError(
            "--rv-column: needs --labels (the RV comes from the catalogue)"
        )
    report = prepare_files(
        list(files),
        output,
        format=format,
        reader_options=reader_options or {},
        catalogue=catalogue,
        config=PrepareConfig(shift_rv=rv_column is not None, **(config or {})),
        progress=progress,
        mapper=mapper,
        overwrite=overwrite,
    )
    return report, write_rejected(output, report.rejected)
