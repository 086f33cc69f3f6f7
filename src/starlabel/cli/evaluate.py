"""``starlabel evaluate``: a catalogue against reference labels."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ._app import Overwrite, console, warn


def metrics_table(metrics: list, *, full: bool = True) -> Table:
    """The metrics as a rich table (``full=False``: the demo's short form)."""
    cols = ["label", "N", "bias", "std"]
    cols += ["rob. std", "p15", "p85"] if full else []
    cols += ["std/CRLB", "z std", "cov68"] + (["cov95"] if full else [])
    t = Table(*cols)
    for m in metrics:
        row = [escape(m.name + (f" [{m.unit}]" if m.unit else "")), str(m.n)]
        row += [f"{v:.3g}" for v in (m.bias, m.std)]
        row += [f"{v:.3g}" for v in (m.robust_std, m.p15, m.p85)] if full else []
        row += [f"{m.sigma_over_crlb:.2f}", f"{m.z_std:.2f}", f"{m.coverage_68:.2f}"]
        row += [f"{m.coverage_95:.2f}"] if full else []
        t.add_row(*row)
    return t


def evaluate(
    catalogue: Annotated[
        Path, typer.Argument(help="Catalogue from `starlabel predict`.")
    ],
    truth: Annotated[
        Path,
        typer.Option("--truth", help="Dataset with the reference labels (and CRLBs)."),
    ],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Folder for metrics.csv and plots."),
    ] = None,
    model_dir: Annotated[
        Path | None,
        typer.Option(
            "--model",
            help="Posterior model (cinn) that made the catalogue: adds SBC rank "
            "histograms and the posterior coverage curve.",
        ),
    ] = None,
    n_draws: Annotated[
        int, typer.Option("--n-draws", help="Posterior draws per star for --model.")
    ] = 100,
    overwrite: Annotated[bool, Overwrite] = False,
) -> None:
    """Compare a catalogue with reference labels: bias, scatter, percentiles, calibration, plots."""
    from ..diagnostics.report_eval import write_evaluation
    from ..models import load

    out = output or catalogue.with_name(catalogue.stem + "-evaluation")
    model = load(model_dir) if model_dir is not None else None
    metrics, files, note = write_evaluation(
        catalogue, truth, out, model=model, n_draws=n_draws, overwrite=overwrite
    )
    if note:
        warn(note)
    Console(width=max(console.width, 110)).print(metrics_table(metrics))
    console.print("wrote " + ", ".join(str(f) for f in files))
