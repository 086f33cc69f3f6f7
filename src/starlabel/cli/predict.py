"""``starlabel predict``: a catalogue from a model and a dataset of any size."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from ..spectra.flags import Flag
from ._app import Overwrite, Quiet, console, counter, progress_bar, warn


class PredictMode(StrEnum):
    fast = "fast"
    precision = "precision"


class PrecisionTotal(StrEnum):
    posterior = "posterior"
    pooled = "pooled"
    paper = "paper"


def predict(
    model_dir: Annotated[Path, typer.Argument(help="Model directory.")],
    data: Annotated[Path, typer.Argument(help="Dataset to label (.h5), any size.")],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Catalogue: .fits, .csv or .parquet.")
    ],
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size",
            help="Spectra per batch (bounds memory; default 4096, cinn 256).",
        ),
    ] = None,
    mode: Annotated[
        PredictMode | None,
        typer.Option(
            "--mode",
            help="cinn: fast (posterior of the spectrum as observed, 32 draws; default) "
            "or precision (noisy copies x draws; internal, external, total errors).",
        ),
    ] = None,
    n_external: Annotated[
        int | None,
        typer.Option(
            "--n-external",
            help="cinn precision: noisy copies (default 20, as the paper).",
        ),
    ] = None,
    n_internal: Annotated[
        int | None,
        typer.Option(
            "--n-internal",
            help="cinn: latent draws per copy (default 32 fast, 250 precision).",
        ),
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="cinn: seeds the draws (default 0).")
    ] = None,
    total: Annotated[
        PrecisionTotal | None,
        typer.Option(
            "--total",
            help="cinn precision: _err_raw is the posterior width (posterior, default), "
            "the width of all copies' draws (pooled) or the paper's quadrature sum "
            "(paper); the last two count the noise twice.",
        ),
    ] = None,
    similarity_map: Annotated[
        Path | None,
        typer.Option(
            "--map",
            help="map.safetensors from `starlabel map`: adds map_ood_score (> 1: unlike the "
            "training set; flagged like the model's own ood_score).",
        ),
    ] = None,
    refine: Annotated[
        Path | None,
        typer.Option(
            "--refine",
            help="Emulator model directory: fit each spectrum with it, starting from "
            "this model's labels (as `starlabel refine` does); the catalogue holds "
            "the refined labels, chi2 and the start values (<label>_start).",
        ),
    ] = None,
    overwrite: Annotated[bool, Overwrite] = False,
    quiet: Annotated[bool, Quiet] = False,
) -> None:
    """Write a catalogue (labels, uncertainties, flags) from a model and a dataset."""
    from ..diagnostics.mapping import ood_scorer
    from ..inference import predict_file
    from ..models import load

    model = load(model_dir)
    options = model.predict_options(
        batch_size=batch_size,
        mode=mode.value if mode else None,
        n_external=n_external,
        n_internal=n_internal,
        seed=seed,
        total=total.value if total else None,
    )
    if refine is not None:
        from .refine import run_refine

        if similarity_map is not None:
            raise ValueError("--map and --refine: give one or the other")
        run_refine(
            load(refine),
            data,
            output,
            start=model,
            options=None,
            start_options=options,
            show=[],
            overwrite=overwrite,
            quiet=quiet,
        )
        return
    ood = ood_scorer(similarity_map) if similarity_map is not None else None
    with progress_bar("predict", quiet) as progress:
        counts = predict_file(
            model,
            data,
            output,
            options=options,
            progress=counter(progress, "predict"),
            ood_score=ood,
            overwrite=overwrite,
        )
    console.print(
        f"wrote {output}: {counts['n_spectra']} rows, {counts['n_not_processed']} not processed "
        f"(NaN, flag {Flag.NOT_PROCESSED.value}), {counts['n_outside_range']} outside the training range"
        + (
            f", {counts['n_ood']} unlike the training set (flag {Flag.OUT_OF_DISTRIBUTION.value})"
            if "n_ood" in counts
            else ""
        )
    )
    if counts.get("n_uncalibrated"):
        warn(
            f"{counts['n_uncalibrated']} rows have an uncalibrated _err: the model has no "
            "calibration for these options (fit one with `starlabel calibrate`)"
        )
    if counts["n_no_err"]:
        warn(
            f"{counts['n_no_err']} rows have a value but no uncertainty (_err is NaN: "
            f"{model.uncertainty_parts_for(options)['int']}; "
            f"{model.uncertainty_parts_for(options)['ext']})"
        )
