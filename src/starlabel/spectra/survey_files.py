"""From survey files and a label catalogue to a dataset file, with the list of
skipped spectra beside it: the whole of ``starlabel prepare`` (and of the demo's
preparation step)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .._typing import PathLike

__all__ = ["prepare_survey"]


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
    pairs_out: PathLike | None = None,
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
        pairs_out: CSV file for the pairs of repeat spectra (``repeats=True`` in
            ``config``).

    Returns:
        the prepare report and the rejected-spectra file (None if none).
    """
    from .io.catalogue import read_catalogue
    from .prepare import PrepareConfig, check_outputs, prepare_files

    check_outputs(
        output,
        overwrite=overwrite,
        pairs_out=pairs_out,
        repeats=bool((config or {}).get("repeats")),
    )

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
        pairs_out=pairs_out,
    )
    return report, report.rejected_file
