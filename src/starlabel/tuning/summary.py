"""What a study leaves in the tune folder: ``trials.csv`` after every trial, and
at the end ``best.toml``, the plots and ``summary.txt``, staged and published with
``summary.txt`` last; :class:`TuneResult` says the same to the caller."""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import clone

from .._atomic import atomic_path, crash_point, make_temp_dir, remove_stale_temporaries
from .._config import to_toml
from ..errors import StarlabelInputError
from .objective import METRICS

__all__ = [
    "STOPPED",
    "SUMMARY",
    "TuneResult",
    "finish",
    "trial_line",
    "write_summaries",
    "write_trials",
]

SUMMARY = "summary.txt"


@dataclass(frozen=True)
class TuneResult:
    """What a ``tune`` call left.

    Attributes:
        study, storage: the study's name and storage URL.
        n_complete, n_pruned, n_failed: finished trials in the study by state.
        ran: trials this call ran.
        best_number, best_value, best_params: the best trial.
        files: output name -> path (``best.toml``, ``trials.csv``, plots).
        pruned_epochs_saved: epochs the pruned trials did not train, counted against
            the median length of the complete ones; ``seconds_saved`` the same in
            time (their median seconds per epoch).
        base: how the base configuration (the study's first trial, where it lies
            inside the space) did, in words; empty where it was not a trial.
    """

    study: str
    storage: str
    metric: str
    n_complete: int
    n_pruned: int
    n_failed: int
    ran: int
    best_number: int
    best_value: float
    best_params: dict[str, Any]
    files: dict[str, Path] = field(default_factory=dict)
    pruned_epochs_saved: float = 0.0
    seconds_saved: float = 0.0
    base: str = ""


def trial_line(study: Any, trial: Any, total: int) -> dict[str, Any]:
    """What ``on_trial`` is told after ``trial``: its outcome and the best so far."""
    try:
        best = study.best_trial
    except ValueError:
        best = None
    return {
        "number": trial.number,
        "state": trial.state.name.lower(),
        "value": trial.value,
        "epochs": trial.user_attrs.get("epochs", 0),
        "seconds": trial.user_attrs.get("seconds", math.nan),
        "error": trial.user_attrs.get("error", ""),
        "finished": sum(t.state.name in ("COMPLETE", "PRUNED") for t in study.trials),
        "target": total,
        "best_number": None if best is None else best.number,
        "best_value": None if best is None else best.value,
    }


#: ``trials.csv``'s reason for a trial whose process ended without reporting one
STOPPED = "its process stopped during the trial (killed or crashed; no heartbeat)"


def write_trials(study: Any, path: Path) -> None:
    """All trials as CSV: number, state, value, epochs, seconds, worker, error and
    one column per drawn parameter."""
    frame = study.trials_dataframe(
        attrs=("number", "state", "value", "params", "user_attrs", "duration")
    )
    frame = frame.drop(columns=["user_attrs_config"], errors="ignore")
    if "duration" in frame:
        frame["duration"] = frame["duration"].dt.total_seconds()
    frame.columns = [c.removeprefix("user_attrs_") for c in frame.columns]
    frame["error"] = frame["error"].fillna("") if "error" in frame else ""
    # a failed trial without a reason of ours: its process ended mid-trial (killed,
    # out of memory, a lost machine) and the heartbeat marked it failed
    frame.loc[(frame["state"] == "FAIL") & (frame["error"] == ""), "error"] = STOPPED
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def finish(output: Path, write: Callable[[Path], TuneResult]) -> TuneResult:
    """Write the summary files (trials.csv, best.toml, plots, summary.txt) with
    ``write(folder)`` into a stage folder inside ``output``, then move them in with
    ``summary.txt`` last: a folder whose ``summary.txt`` is there holds a complete,
    consistent set."""
    remove_stale_temporaries(output / SUMMARY)
    stage = make_temp_dir(output / SUMMARY)
    try:
        result = write(stage)
    except StarlabelInputError:
        _publish(stage, output)  # trials.csv says why no trial completed
        raise
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    _publish(stage, output)
    result.files.update({k: output / v.name for k, v in result.files.items()})
    return result


def _publish(stage: Path, output: Path) -> None:
    """Move the files of ``stage`` into ``output``; ``summary.txt`` is removed
    first and moved in last (see :func:`finish`)."""
    names = sorted(p.name for p in stage.iterdir())
    (output / SUMMARY).unlink(missing_ok=True)
    for k, n in enumerate(x for x in names if x != SUMMARY):
        if k:
            crash_point("between")
        os.replace(stage / n, output / n)
    if SUMMARY in names:
        crash_point("between")
        os.replace(stage / SUMMARY, output / SUMMARY)
    shutil.rmtree(stage, ignore_errors=True)


def write_summaries(
    study: Any,
    output: Path,
    base: dict[str, Any],
    fixed: dict[str, Any],
    base_est: Any,
    metric: str,
    url: str,
    name: str,
    ran: int,
) -> TuneResult:
    from optuna.trial import TrialState

    states = [t.state for t in study.trials]
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED]
    files: dict[str, Path] = {}
    write_trials(study, output / "trials.csv")
    files["trials"] = output / "trials.csv"
    finite = [t for t in complete if t.value is not None and math.isfinite(t.value)]
    if not finite:
        raise StarlabelInputError(
            f"study {name!r}: no trial completed yet ({len(pruned)} pruned, "
            f"{states.count(TrialState.FAIL)} failed); see {output / 'trials.csv'}"
        )
    best = min(finite, key=lambda t: t.value)
    config = json.loads(best.user_attrs["config"])
    for key in fixed:  # the ensemble size etc. of the base configuration
        config[key] = base[key]
    est = clone(base_est).set_params(config=base_est.config_class.from_dict(config))
    header = (
        f"starlabel tune: best of {len(complete)} complete trials of study {name!r} "
        f"({url}): trial {best.number}, {metric} = {best.value:.6g}\n"
        "starlabel train DATA --config best.toml -o MODEL trains it"
    )
    with atomic_path(output / "best.toml") as tmp:
        tmp.write_text(to_toml(est.run_config(), header=header), encoding="utf-8")
    files["best"] = output / "best.toml"
    from .plots import write_plots

    files |= write_plots(study, output)
    epochs_saved, seconds_saved = _pruning_savings(complete, pruned)
    result = TuneResult(
        study=name,
        storage=url,
        metric=metric,
        n_complete=len(complete),
        n_pruned=len(pruned),
        n_failed=states.count(TrialState.FAIL),
        ran=ran,
        best_number=best.number,
        best_value=float(best.value),
        best_params=dict(best.params),
        files=files,
        pruned_epochs_saved=epochs_saved,
        seconds_saved=seconds_saved,
        base=_base_line(study, metric),
    )
    _write_summary(result, output / SUMMARY)
    files["summary"] = output / SUMMARY
    return result


def _base_line(study: Any, metric: str) -> str:
    """How the base configuration's trial did, in words ("" where none ran)."""
    for t in study.trials:
        if not t.user_attrs.get("base"):
            continue
        state = t.state.name.lower()
        if state == "complete" and t.value is not None:
            return f"base configuration: trial {t.number}, {metric} = {t.value:.6g}"
        if state == "pruned":
            return (
                f"base configuration: trial {t.number}, pruned after "
                f"{t.user_attrs.get('epochs', 0)} epochs"
            )
        return f"base configuration: trial {t.number}, {state}"
    return ""


def _pruning_savings(complete: list, pruned: list) -> tuple[float, float]:
    """Epochs (and seconds) the pruned trials did not train, against the median
    complete trial."""
    if not complete or not pruned:
        return 0.0, 0.0
    epochs = [t.user_attrs.get("epochs", 0) for t in complete]
    per_epoch = [
        t.user_attrs["seconds"] / t.user_attrs["epochs"]
        for t in complete + pruned
        if t.user_attrs.get("epochs") and "seconds" in t.user_attrs
    ]
    full = float(np.median(epochs))
    saved = sum(max(full - t.user_attrs.get("epochs", 0), 0.0) for t in pruned)
    return saved, saved * (float(np.median(per_epoch)) if per_epoch else 0.0)


def _write_summary(result: TuneResult, path: Path) -> None:
    lines = [
        f"study {result.study} ({result.storage})",
        f"objective: {result.metric} = {METRICS[result.metric]} (minimised)",
        f"trials: {result.n_complete} complete, {result.n_pruned} pruned, "
        f"{result.n_failed} failed",
        f"best: trial {result.best_number}, {result.metric} = {result.best_value:.6g}",
        *(f"  {k} = {v}" for k, v in sorted(result.best_params.items())),
        *([result.base] if result.base else []),
        f"pruning saved ~{result.pruned_epochs_saved:.0f} epochs "
        f"(~{result.seconds_saved / 60:.1f} min) against the median complete trial",
    ]
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
