"""``starlabel predict``: a catalogue from a model and a dataset of any size."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from ..spectra.flags import Flag
from ._app import (
    Overwrite,
    Quiet,
    console,
    counter,
    progress_bar,
    warn,
    warn_flag_counts,
)


class PredictMode(StrEnum):
    fast = "fast"
    precision = "precision"


class PrecisionTotal(StrEnum):
    posterior = "posterior"
    pooled = "pooled"
    paper = "paper"


def predict(
    model_dir: Annotated[Path, typer.Argument(help="Model directory.")],
    data: Annotated[
        list[str],
        typer.Argument(
            help="Datasets to label (.h5), any size: files, folders or quoted glob "
            "patterns ('survey/*.h5'); one catalogue, in the order given.",
        ),
    ],
    output: Annotated[
        Path,
        typer.Option(
            "-o",
            "--output",
            help="Catalogue: .fits, .csv or .parquet, or a folder (name/) that "
            "becomes a Parquet dataset of parts.",
        ),
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
    chunk_size: Annotated[
        int | None,
        typer.Option(
            "--chunk-size",
            help="Spectra per staged part (the unit a rerun skips and a worker "
            "takes; default 8192).",
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            help="Dask LocalCluster of N single-threaded worker processes "
            "(pip install 'starlabel[dask]'); 0: this process.",
        ),
    ] = 0,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help="Address of a running Dask scheduler (tcp://host:8786) whose workers "
            "see the same files; instead of --workers.",
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Finish an interrupted run (fails if there is none); the same "
            "command without it resumes too.",
        ),
    ] = False,
    log: Annotated[
        Path | None,
        typer.Option("--log", help="JSON-lines file: one record per chunk (appended)."),
    ] = None,
    overwrite: Annotated[bool, Overwrite] = False,
    quiet: Annotated[bool, Quiet] = False,
) -> None:
    """Write a catalogue (labels, uncertainties, flags) from a model and datasets.

    Resumable: a rerun of the same command after a crash skips the chunks already
    done; with more files added to a set of inputs it labels only the new ones."""
    import functools

    from ..diagnostics.mapping import ood_scorer
    from ..inference import (
        expand_inputs,
        has_unfinished_run,
        parts_folder,
        predict_survey,
    )
    from ..models import load

    if workers < 0:
        raise ValueError(f"--workers: expected >= 0, got {workers}")
    if workers and scheduler:
        raise ValueError("--workers and --scheduler: give one or the other")
    single = len(data) == 1 and Path(data[0]).suffix and not Path(data[0]).is_dir()
    single = bool(single) and not any(c in data[0] for c in "*?[")
    inputs = expand_inputs(data)
    if resume and not has_unfinished_run(output):
        raise ValueError(
            f"--resume: no interrupted run to finish ({parts_folder(output)} holds none)"
        )

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
        if len(inputs) != 1 or workers or scheduler:
            raise ValueError(
                "--refine: one dataset file, in this process (no --workers/--scheduler)"
            )
        run_refine(
            load(refine),
            inputs[0],
            output,
            start=model,
            options=None,
            start_options=options,
            show=[],
            overwrite=overwrite,
            quiet=quiet,
        )
        return
    ood, key = None, {}
    if similarity_map is not None:
        ood = functools.partial(ood_scorer, similarity_map.absolute())
        st = similarity_map.stat()
        key = {"map": similarity_map.name, "stamp": [st.st_size, st.st_mtime_ns]}
    with progress_bar("predict", quiet, rate="spectra") as progress:
        counts = predict_survey(
            model,
            inputs,
            output,
            options=options,
            chunk_size=chunk_size,
            workers=workers,
            scheduler=scheduler,
            ood=ood,
            run_key=key,
            source_column=not single,
            keep_parts=not single,
            progress=counter(progress, "predict"),
            log=log,
            overwrite=overwrite,
        )
    _report(counts, output, len(inputs), model, options)


def _report(counts: dict, output: Path, n_files: int, model: Any, options: Any) -> None:
    """What a predict run did: chunks, rate, rows, flags and uncalibrated errors."""
    if counts["chunks_run"]:
        rate = counts["rows_run"] / max(counts["seconds"], 1e-9)
        console.print(
            f"labelled {counts['rows_run']} spectra in {counts['chunks_run']} of "
            f"{counts['chunks']} chunks ({counts['seconds']:.1f} s, {rate:,.0f} spectra/s)"
            + (
                "; the others were done by an earlier run"
                if counts["chunks_run"] < counts["chunks"]
                else ""
            )
        )
    else:
        console.print("nothing to label: every chunk was done by an earlier run")
    what = "wrote" if counts["written"] else "up to date:"
    console.print(
        f"{what} {output}: {counts['n_spectra']} rows from {n_files} file"
        f"{'s' if n_files > 1 else ''}, {counts['n_not_processed']} not processed "
        f"(NaN, flag {Flag.NOT_PROCESSED.value}), {counts['n_outside_range']} outside the training range"
        + (
            f", {counts['n_ood']} unlike the training set (flag {Flag.OUT_OF_DISTRIBUTION.value})"
            if "n_ood" in counts
            else ""
        )
    )
    warn_flag_counts(counts)
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
