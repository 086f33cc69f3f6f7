"""``starlabel synth``: a synthetic survey (population, noisy spectra, Cramer-Rao
bounds, optionally raw observations)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from ._app import Overwrite, Quiet, console, progress_bar


class PopulationKind(StrEnum):
    galactic = "galactic"
    decorrelated = "decorrelated"
    globular = "globular"
    uniform = "uniform"


def _parse_snr(text: str) -> tuple[float, float]:
    parts = text.split(":")
    try:
        values = [float(p) for p in parts]
    except ValueError as exc:
        raise ValueError(
            f"--snr: expected LOW:HIGH or a single value, got {text!r}"
        ) from exc
    if len(values) == 1:
        values = values * 2
    if len(values) != 2 or not 0 < values[0] <= values[1]:
        raise ValueError(f"--snr: expected 0 < LOW <= HIGH, got {text!r}")
    return values[0], values[1]


def synth(
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Dataset file to write (.h5).")
    ] = None,
    setup: Annotated[
        str,
        typer.Option(
            "--setup",
            help="giraffe-hr10-hr21, giraffe-hr10, giraffe-hr21, giraffe-hr15n or gaia-rvs.",
        ),
    ] = "giraffe-hr10-hr21",
    n: Annotated[int, typer.Option("--n", help="Number of stars.")] = 5000,
    population: Annotated[
        PopulationKind,
        typer.Option(
            "--population",
            help="galactic (a Milky Way mixture), decorrelated (its stars with "
            "every [X/Fe] drawn independently: tests whether abundances follow "
            "their own lines), globular (its globular-cluster stars alone: Mg-Al "
            "anticorrelation) or uniform (independent uniform labels).",
        ),
    ] = PopulationKind.galactic,
    snr: Annotated[
        str,
        typer.Option(
            "--snr", help="S/N per pixel: LOW:HIGH (log-uniform) or one value."
        ),
    ] = "10:150",
    seed: Annotated[int, typer.Option("--seed")] = 1,
    labels_from: Annotated[
        Path | None,
        typer.Option(
            "--labels-from",
            help="Table of labels (one spectrum per row) instead of a population.",
        ),
    ] = None,
    noise_free: Annotated[
        bool,
        typer.Option("--noise-free", help="No noise (ivar still describes --snr)."),
    ] = False,
    no_crlb: Annotated[
        bool, typer.Option("--no-crlb", help="Skip the Cramer-Rao bounds (faster).")
    ] = False,
    raw: Annotated[
        Path | None,
        typer.Option(
            "--raw",
            help="Also write raw FITS observations, a catalogue and the truth here.",
        ),
    ] = None,
    continuum: Annotated[
        bool,
        typer.Option(
            "--continuum", help="Raw spectra keep an un-normalised continuum."
        ),
    ] = False,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            help="Draw a solar dwarf, a metal-poor giant and a cool giant with the named lines (PNG).",
        ),
    ] = None,
    overwrite: Annotated[bool, Overwrite] = False,
    quiet: Annotated[bool, Quiet] = False,
) -> None:
    """Generate a synthetic survey: labels from a population, noisy spectra, Cramer-Rao bounds, raw files."""
    from .._atomic import DATASET_SUFFIXES, check_output, check_output_dir
    from ..diagnostics.plots.spectra import draw_example_stars
    from ..synth.population import sample_population
    from ..synth.raw import write_raw_observations
    from ..synth.setups import get_setup
    from ..synth.survey import population_from_table, synthesize, write_survey

    get_setup(setup)
    if output is None and plot is None:
        raise ValueError("-o/--output: give a dataset file to write (or --plot only)")
    if plot is not None:
        check_output(plot, overwrite=overwrite, suffixes=(".png",))
        draw_example_stars(setup, plot)
        console.print(f"wrote {plot}")
    if output is None:
        return
    check_output(output, overwrite=overwrite, suffixes=DATASET_SUFFIXES)
    if raw is not None:
        check_output_dir(raw, overwrite=overwrite, command="synth --raw")
    lo_hi = _parse_snr(snr)
    ids = None
    if labels_from is not None:
        pop, ids = population_from_table(labels_from, snr=lo_hi[0])
    else:
        pop = sample_population(n, kind=population.value, seed=seed, snr=lo_hi)
    total = len(pop)
    with progress_bar("synth", quiet) as progress:
        task = progress.add_task("synth", total=total)
        written = write_survey(
            output,
            synthesize(
                pop,
                setup=setup,
                noise=not noise_free,
                with_crlb=not no_crlb,
                seed=seed,
                ids=ids,
                progress=lambda k: progress.update(task, advance=k),
            ),
            overwrite=overwrite,
        )
    console.print(
        f"wrote {output}: {written} spectra ({setup}, {pop.meta['population'][0] if labels_from else population.value})"
    )
    if raw is not None:
        with progress_bar("raw", quiet) as progress:
            task = progress.add_task(
                "raw", total=total * (len(get_setup(setup).natives) + 1)
            )
            files, catalogue, truth = write_raw_observations(
                raw,
                pop,
                setup=setup,
                seed=seed,
                continuum=continuum,
                ids=ids,
                progress=lambda k: progress.update(task, advance=k),
                overwrite=overwrite,
            )
        console.print(
            f"wrote {len(files)} raw FITS spectra, {catalogue} and {truth} to {raw}"
        )
