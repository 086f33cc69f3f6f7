"""``starlabel tune``: hyperparameter search with Optuna, stored in a database."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated

import typer

from ._app import Overwrite, Quiet, console

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


def parse_duration(text: str, option: str = "--timeout") -> float:
    """Seconds in ``90``, ``90s``, ``30m``, ``2h`` or ``1d``.

    Example:
        >>> parse_duration("2h"), parse_duration("90")
        (7200.0, 90.0)
    """
    m = _DURATION.match(text)
    if not m:
        raise ValueError(f"{option}: expected e.g. 90s, 30m or 2h, got {text!r}")
    return (
        float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    )


def tune(
    data: Annotated[Path, typer.Argument(help="Training dataset (.h5).")],
    output: Annotated[
        Path,
        typer.Option(
            "-o",
            "--output",
            help="Tune folder: study.db, best.toml, trials.csv, plots.",
        ),
    ],
    valid: Annotated[
        Path | None,
        typer.Option("--valid", help="Validation dataset (default: 20 % of DATA)."),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="The model to tune:")
    ] = None,
    labels: Annotated[
        list[str], typer.Option("--labels", help="Labels to learn (default: all).")
    ] = [],  # noqa: B006
    preset: Annotated[
        str | None, typer.Option("--preset", help="Base configuration, a preset:")
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Base configuration (a run file, TOML)."),
    ] = None,
    trials: Annotated[
        int,
        typer.Option(
            "--trials",
            help="Finished trials the study should reach (a rerun adds the rest).",
        ),
    ] = 30,
    timeout: Annotated[
        str | None,
        typer.Option("--timeout", help="No new trial after this long: 90s, 30m, 2h."),
    ] = None,
    trial_timeout: Annotated[
        str | None,
        typer.Option(
            "--trial-timeout",
            help="Prune a trial that trains longer than this (10m): caps what an "
            "expensive corner of the space costs.",
        ),
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage",
            help="Optuna storage URL (default sqlite:///OUTPUT/study.db; e.g. "
            "postgresql://host/db); processes on one storage share the study.",
        ),
    ] = None,
    study: Annotated[
        str | None,
        typer.Option("--study", help="Study name (default starlabel-MODEL)."),
    ] = None,
    metric: Annotated[
        str | None,
        typer.Option(
            "--metric",
            help="loss (validation loss; cnn, cinn default), scatter (std / label "
            "scatter; gandalf default) or crlb (std / Cramer-Rao bound).",
        ),
    ] = None,
    pruner: Annotated[
        str, typer.Option("--pruner", help="median, hyperband or none.")
    ] = "median",
    space: Annotated[
        Path | None,
        typer.Option("--space", help="Search-space overrides (TOML, see the README)."),
    ] = None,
    max_epochs: Annotated[
        int | None, typer.Option("--max-epochs", help="Epochs per trial at most.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Training seed.")] = 0,
    device: Annotated[
        str, typer.Option("--device", help="auto, cpu or cuda.")
    ] = "auto",
    overwrite: Annotated[bool, Overwrite] = False,
    quiet: Annotated[bool, Quiet] = False,
) -> None:
    """Search a model's hyperparameters (Optuna TPE, pruning); resumable and parallel."""
    from ..models import read_run_config
    from ..tuning import tune as run_tune

    def show(t: dict) -> None:
        if quiet:
            return
        value = (
            "-"
            if t["value"] is None or not math.isfinite(t["value"])
            else f"{t['value']:.5g}"
        )
        best = (
            f"best {t['best_value']:.5g} (#{t['best_number']})"
            if t["best_number"] is not None
            else "no best yet"
        )
        why = f" ({t['error']})" if t["error"] else ""
        console.print(
            f"trial {t['number']}: {t['state']}{why}, {value} after {t['epochs']} "
            f"epochs, {t['seconds']:.0f} s; {best}; {t['finished']} finished of "
            f"{t['target']}",
            highlight=False,
        )

    result = run_tune(
        data,
        valid,
        output,
        model=model,
        run=read_run_config(config) if config is not None else None,
        preset=preset,
        labels=labels or None,
        trials=trials,
        timeout=parse_duration(timeout) if timeout else None,
        trial_timeout=(
            parse_duration(trial_timeout, "--trial-timeout") if trial_timeout else None
        ),
        storage=storage,
        study_name=study,
        metric=metric,
        pruner=pruner,
        space_file=space,
        seed=seed,
        device=device,
        overwrite=overwrite,
        on_trial=show,
        max_epochs=max_epochs,
    )
    console.print(
        f"study {result.study}: {result.n_complete} complete, {result.n_pruned} "
        f"pruned, {result.n_failed} failed ({result.ran} run now); best trial "
        f"{result.best_number}: {result.metric} = {result.best_value:.5g}",
        highlight=False,
    )
    if result.base:
        console.print(result.base, highlight=False)
    console.print(
        f"wrote {output}/best.toml: starlabel train DATA --config {output}/best.toml -o MODEL"
    )
