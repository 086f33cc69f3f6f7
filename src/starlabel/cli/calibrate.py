"""``starlabel calibrate``: refit a model's error calibration on trusted stars."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from ._app import Overwrite, console
from .predict import PrecisionTotal, PredictMode


def calibrate(
    model_dir: Annotated[Path, typer.Argument(help="Model directory (updated).")],
    reference: Annotated[
        Path,
        typer.Argument(
            help="Dataset (.h5) of stars with trusted labels (benchmark stars, "
            "cluster members), or with --pairs the repeat observations."
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "-o", "--output", help="Report folder (default: MODEL-calibration)."
        ),
    ] = None,
    pairs: Annotated[
        Path | None,
        typer.Option(
            "--pairs",
            help="CSV whose first two columns are ids of two spectra of the same "
            "star: calibrate on prediction differences (no labels needed).",
        ),
    ] = None,
    mode: Annotated[
        PredictMode | None,
        typer.Option("--mode", help="cinn: the mode to calibrate (default fast)."),
    ] = None,
    total: Annotated[
        PrecisionTotal | None,
        typer.Option("--total", help="cinn precision: the total to calibrate."),
    ] = None,
    n_external: Annotated[
        int | None, typer.Option("--n-external", help="cinn precision: noisy copies.")
    ] = None,
    n_internal: Annotated[
        int | None, typer.Option("--n-internal", help="cinn: latent draws per copy.")
    ] = None,
    overwrite: Annotated[bool, Overwrite] = False,
) -> None:
    """Refit the per-label error calibration (sigma^2 = (a raw)^2 + b^2 + (c (100/snr)^p)^2)
    on reference stars or repeat pairs; the model keeps the earlier one in its history."""
    from ..diagnostics.recalibrate import calibrate_model_dir
    from ..models import load

    model = load(model_dir)
    options = model.predict_options(
        mode=mode.value if mode else None,
        total=total.value if total else None,
        n_external=n_external,
        n_internal=n_internal,
    )
    out = output or model_dir.with_name(model_dir.name + "-calibration")
    result = calibrate_model_dir(
        model_dir, reference, out, pairs=pairs, options=options, overwrite=overwrite
    )
    t = Table(
        "label",
        "n",
        "a",
        "b",
        "c",
        "z std raw",
        "z std before",
        "z std after",
        "cov68 after",
        title=f"calibration '{result.key}' refitted on {reference.name} (in-sample)",
    )
    for r in result.rows:
        t.add_row(
            escape(r["label"]),
            str(r["n"]),
            *(f"{r[k]:.3g}" for k in ("a", "b", "c")),
            *(f"{r[k]:.3g}" for k in ("z_std_raw", "z_std_before", "z_std_after")),
            f"{r['cov68_after']:.2f}",
        )
    console.print(t)
    console.print(
        f"updated {model_dir / 'model.json'} (earlier calibration kept in "
        f"calibration_history); report -> " + ", ".join(str(f) for f in result.files)
    )
