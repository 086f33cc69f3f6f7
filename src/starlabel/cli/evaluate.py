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


def leakage_table(rows: list) -> Table:
    """Per abundance: the slope on its own truth against the one the Cramer-Rao
    bound allows, the top leak and the verdict."""
    t = Table(
        "label",
        "N",
        "slope on own truth",
        "allowed",
        "top leak",
        "verdict",
        title="do the abundances follow their own truth? (slope 1 = fully; a "
        "slope under half the allowed one: the population's prior, not a "
        "measurement; leak: slope on another label's truth, in own-spread units)",
    )
    for r in rows:
        t.add_row(
            escape(r.name),
            str(r.n),
            f"{r.slope:.2f} +- {r.slope_err:.2f}",
            f"{r.allowed:.2f}",
            f"{escape(r.leak_label)} {r.leak:+.2f} +- {r.leak_err:.2f}",
            r.verdict,
        )
    return t


def calibration_table(bins: list, labels: list[str] | None = None) -> Table:
    """z std and 68 % coverage of ``_err`` (and ``_err_raw``) per label and bin."""
    names = list(
        dict.fromkeys(b.name for b in bins if labels is None or b.name in labels)
    )
    kinds = list(dict.fromkeys(b.bin for b in bins))
    t = Table(
        "label",
        *kinds,
        title="calibration of _err: z std / cov68 per S/N and Teff bin "
        "(1.00 / 0.68 = calibrated; in brackets: _err_raw; - : < 20 stars)",
    )
    by = {(b.name, b.bin): b for b in bins}
    for name in names:
        row = [escape(name)]
        for kind in kinds:
            b = by.get((name, kind))
            if b is None or b.n < 20:
                row.append("-")
                continue
            cell = f"{b.z_std:.2f}/{b.coverage_68:.2f}"
            if b.z_std_raw == b.z_std_raw:  # finite raw error
                cell += f" ({b.z_std_raw:.3g})"
            row.append(cell)
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
    result = write_evaluation(
        catalogue, truth, out, model=model, n_draws=n_draws, overwrite=overwrite
    )
    if result.note:
        warn(result.note)
    wide = Console(width=max(console.width, 150))
    wide.print(metrics_table(result.metrics))
    if result.bins:
        wide.print(calibration_table(result.bins))
    if result.leakage:
        wide.print(leakage_table(result.leakage))
    console.print("wrote " + ", ".join(str(f) for f in result.files))
