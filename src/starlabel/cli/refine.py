"""``starlabel refine``: per-star fit of the labels with an emulator, started from
another model's catalogue."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..spectra.flags import Flag
from ._app import Overwrite, Quiet, console, counter, progress_bar, warn_flag_counts


def refine(
    emulator_dir: Annotated[
        Path, typer.Argument(help="Emulator model directory (train --model emulator).")
    ],
    data: Annotated[Path, typer.Argument(help="Dataset to fit (.h5), any size.")],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Catalogue: .fits, .csv or .parquet.")
    ],
    start: Annotated[
        Path | None,
        typer.Option(
            "--start",
            help="Catalogue of another model for the same dataset: each fit starts "
            "there (or at the best training-grid point when that fits better). "
            "Default: the grid only.",
        ),
    ] = None,
    show: Annotated[
        list[str],
        typer.Option(
            "--show",
            help="Star id whose observed spectrum, best fit and residual are drawn "
            "into OUTPUT-fits.png (repeat, up to 6).",
        ),
    ] = [],  # noqa: B006
    fit_batch: Annotated[
        int | None,
        typer.Option("--fit-batch", help="Stars fitted together (default 256)."),
    ] = None,
    overwrite: Annotated[bool, Overwrite] = False,
    quiet: Annotated[bool, Quiet] = False,
) -> None:
    """Fit every spectrum with the emulator: refined labels, Laplace errors, chi2."""
    from ..models import EmulatingEstimator, load

    emulator = load(emulator_dir)
    options = (
        emulator.predict_options(fit_batch=fit_batch)
        if isinstance(emulator, EmulatingEstimator)
        else None
    )
    run_refine(
        emulator,
        data,
        output,
        start=start,
        options=options,
        show=show,
        overwrite=overwrite,
        quiet=quiet,
    )


def run_refine(
    emulator,
    data,
    output,
    *,
    start,
    options,
    show,
    overwrite,
    quiet,
    start_options=None,
) -> None:
    """Shared by ``refine`` and ``predict --refine``: fit, write, report."""
    from ..diagnostics.fits import write_star_fits
    from ..inference import read_catalogue_table, refine_file
    from ..spectra import read_dataset

    if len(show) > 6:
        raise ValueError(f"--show: at most 6 stars, got {len(show)}")
    figure = output.with_name(output.stem + "-fits.png")
    if show:
        from .._atomic import check_output

        check_output(figure, overwrite=overwrite, suffixes=(".png",))
    if show:  # unknown ids are refused before hours of fitting
        import h5py

        try:
            with h5py.File(data, "r") as f:
                known = set(f["meta/id"].asstr()[:].tolist())
        except (OSError, KeyError, TypeError):
            known = None  # not a dataset: refine_file says so in one line
        unknown = [s for s in show if known is not None and s not in known]
        if unknown:
            raise ValueError(f"--show: {unknown[0]} is not a star of {data}")
    with progress_bar("refine", quiet) as progress:
        counts = refine_file(
            emulator,
            data,
            output,
            start=start,
            options=options,
            start_options=start_options,
            progress=counter(progress, "refine"),
            overwrite=overwrite,
        )
    console.print(
        f"wrote {output}: {counts['n_spectra']} rows, {counts['n_not_processed']} not processed, "
        f"{counts['n_not_converged']} fits not converged (flag {Flag.FIT_NOT_CONVERGED.value}), "
        f"{counts['n_at_bound']} on a bound of the training range (flag {Flag.FIT_AT_BOUND.value})"
        + (
            f", {counts['n_ood']} unlike the training set (flag {Flag.OUT_OF_DISTRIBUTION.value})"
            if "n_ood" in counts
            else ""
        )
    )
    warn_flag_counts(counts)
    if show:
        spectra = read_dataset(data)
        write_star_fits(emulator, spectra, read_catalogue_table(output), show, figure)
        console.print(f"best-fit spectra of {', '.join(show)} -> {figure}")
