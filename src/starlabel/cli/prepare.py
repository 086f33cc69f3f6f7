"""``starlabel prepare``: survey spectra + a label catalogue -> dataset file."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from ._app import (
    Overwrite,
    Quiet,
    console,
    counter,
    err_console,
    parse_assignments,
    progress_bar,
)


class InputFormat(StrEnum):
    ges = "ges"
    apogee_apstar = "apogee-apstar"
    apogee_apvisit = "apogee-apvisit"
    gaia_rvs = "gaia-rvs"
    table = "table"


class Normalise(StrEnum):
    auto = "auto"
    none = "none"
    percentile = "percentile"
    polynomial = "polynomial"


class Fill(StrEnum):
    interp = "interp"
    one = "one"
    mean = "mean"


class Scale(StrEnum):
    x_fe = "x_fe"
    x_h = "x_h"
    a = "a"


def prepare(
    files: Annotated[
        list[str], typer.Argument(help="Spectrum files, directories or glob patterns.")
    ],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Dataset file to write (.h5).")
    ],
    format: Annotated[
        InputFormat | None,
        typer.Option("--format", help="Input format; guessed per file if omitted."),
    ] = None,
    labels: Annotated[
        Path | None,
        typer.Option("--labels", help="Label catalogue (FITS, CSV, Parquet)."),
    ] = None,
    id_column: Annotated[
        str | None,
        typer.Option("--id-column", help="Catalogue column with the star ids."),
    ] = None,
    map_: Annotated[
        list[str],
        typer.Option(
            "--map", help="COLUMN=label, e.g. TEFF=teff, MG1=A(Mg), E_TEFF=teff_err."
        ),
    ] = [],  # noqa: B006
    rv_column: Annotated[
        str | None,
        typer.Option(
            "--rv-column", help="Catalogue RV column (km/s): shift to rest frame."
        ),
    ] = None,
    grid: Annotated[
        str | None,
        typer.Option(
            "--grid",
            help="Named grid (giraffe-hr10-hr21, giraffe-hr10, giraffe-hr21, giraffe-hr15n, gaia-rvs, apogee) or a file.",
        ),
    ] = None,
    min_snr: Annotated[
        float | None, typer.Option("--min-snr", help="Drop spectra with lower S/N.")
    ] = None,
    max_label_err: Annotated[
        list[str], typer.Option("--max-label-err", help="LABEL=VALUE, e.g. teff=200.")
    ] = [],  # noqa: B006
    flag_column: Annotated[
        str | None,
        typer.Option(
            "--flag-column",
            help="Mapped catalogue column (e.g. TECH=flags); non-empty values drop the star.",
        ),
    ] = None,
    normalise: Annotated[
        Normalise,
        typer.Option(
            "--normalise",
            help="Continuum normalisation for un-normalised input. auto: the "
            "format's default (percentile for APOGEE apStar/apVisit, whose flux is "
            "never normalised; none for the others).",
        ),
    ] = Normalise.auto,
    fill: Annotated[
        Fill,
        typer.Option("--fill", help="How masked pixels are filled (ivar stays 0)."),
    ] = Fill.interp,
    no_clean: Annotated[
        bool, typer.Option("--no-clean", help="Skip spike and bad-pixel cleaning.")
    ] = False,
    abundance_scale: Annotated[
        Scale,
        typer.Option(
            "--abundance-scale", help="Store abundances as [X/Fe], [X/H] or A(X)."
        ),
    ] = Scale.x_fe,
    medium: Annotated[
        str | None,
        typer.Option(
            "--medium",
            help="Wavelength medium of the input (air/vacuum), for ges and table formats.",
        ),
    ] = None,
    wavelength_unit: Annotated[
        str | None,
        typer.Option(
            "--wavelength-unit",
            help="Unit of unit-less wavelength columns (table format).",
        ),
    ] = None,
    wave_column: Annotated[
        str | None, typer.Option("--wave", help="Wavelength column name.")
    ] = None,
    flux_column: Annotated[
        str | None, typer.Option("--flux", help="Flux column or extension name.")
    ] = None,
    error_column: Annotated[
        str | None, typer.Option("--error", help="Error/ivar column or extension name.")
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            help="Read and prepare the files in a Dask LocalCluster of N single-threaded "
            "processes (pip install 'starlabel[dask]'); 0: this process.",
        ),
    ] = 0,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help="Address of a running Dask scheduler whose workers see the same files.",
        ),
    ] = None,
    repeats: Annotated[
        bool,
        typer.Option(
            "--repeats",
            help="Keep several spectra of one id and setup as repeat observations "
            "with distinct ids (ID, ID~2, ID~3, ... in reading order) instead of "
            "refusing them.",
        ),
    ] = False,
    pairs_out: Annotated[
        Path | None,
        typer.Option(
            "--pairs-out",
            help="With --repeats: write the pairs of spectra of one star to this CSV "
            "(id1,id2), for `starlabel calibrate --pairs`.",
        ),
    ] = None,
    overwrite: Annotated[bool, Overwrite] = False,
    quiet: Annotated[bool, Quiet] = False,
) -> None:
    """Read survey spectra and a label catalogue; clean, shift, resample, join setups, cut -> dataset file."""
    import contextlib

    from ..spectra.survey_files import prepare_survey

    if workers < 0:
        raise ValueError(f"--workers: expected >= 0, got {workers}")
    if workers and scheduler:
        raise ValueError("--workers and --scheduler: give one or the other")
    if pairs_out is not None and not repeats:
        raise ValueError("--pairs-out: needs --repeats (pairs of repeat spectra)")

    options = {
        k: v
        for k, v in dict(
            medium=medium,
            wavelength_unit=wavelength_unit,
            wave=wave_column,
            flux=flux_column,
            error=error_column,
        ).items()
        if v
    }
    fmt = format.value if format else None
    if options and fmt not in ("ges", "table"):
        raise ValueError(
            "--medium/--wave/--flux/--error/--wavelength-unit need --format ges or table"
        )
    if fmt != "table":
        options.pop("wavelength_unit", None)
    with contextlib.ExitStack() as stack:
        mapper = None
        if workers or scheduler:
            from ..inference.distributed import dask_client, dask_map

            client = stack.enter_context(dask_client(workers, scheduler))

            def mapper(fn, items):
                return dask_map(client, fn, items)

        progress = stack.enter_context(progress_bar("prepare", quiet, rate="spectra"))
        report, rejected_file = prepare_survey(
            files,
            output,
            format=fmt,
            reader_options=options,
            labels=labels,
            id_column=id_column,
            mapping=map_,
            rv_column=rv_column,
            abundance_scale=abundance_scale.value,
            config=dict(
                grid=grid,
                min_snr=min_snr,
                max_label_err=parse_assignments(
                    max_label_err, "--max-label-err", key="LABEL", example="teff=200"
                ),
                flag_column=flag_column,
                normalise=normalise.value,
                fill=fill.value,
                clean=not no_clean,
                repeats=repeats,
            ),
            progress=counter(progress, "prepare"),
            mapper=mapper,
            overwrite=overwrite,
            pairs_out=pairs_out,
        )
    if not quiet:
        print_report(report, rejected_file, output)


def print_report(report, rejected_file: Path | None, output: Path) -> None:
    """What was written and the first skipped spectra."""
    console.print(f"wrote {output}: {report.summary()}; grid {report.grid!r}")
    for (fmt, method), n in sorted(report.normalised.items()):
        console.print(
            f"normalised the continuum of {n} {fmt} spectra ({method}): that "
            "format's flux is never normalised (--normalise to choose)",
            highlight=False,
        )
    if report.repeat_of:
        console.print(
            f"{len(report.repeat_of)} repeat spectra kept as ID~2, ID~3, ...",
            highlight=False,
        )
    if report.pairs_file is not None:
        console.print(
            f"{len(report.pairs)} repeat pairs written to {report.pairs_file}",
            highlight=False,
        )
    for r in report.rejected[:10]:
        err_console.print(
            f"  skipped {r.source}: {('star ' + r.star + ': ') if r.star else ''}{r.reason}",
            highlight=False,
            markup=False,
        )
    if len(report.rejected) > 10:
        err_console.print(
            f"  ... and {len(report.rejected) - 10} more", highlight=False
        )
    if rejected_file:
        console.print(f"skipped spectra listed in {rejected_file}")
