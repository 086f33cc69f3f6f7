"""Hyperparameter search with Optuna, stored in a database (``starlabel tune``).

A study lives in an Optuna storage: by default the SQLite file ``study.db`` in the
output folder (a real database, no pickle). The same command again continues the
study; several processes on one storage run trials side by side. Each trial draws
a config from the model's search space (``models.space``; the model class declares
it next to its config), trains it on the training set with early stopping on the
validation set, reports the validation loss after every epoch to the pruner (which
may stop it) and returns the objective:

* ``loss``: the model's own validation loss (cnn, cinn; its ``loss_name``);
* ``scatter``: mean over the labels of std(predicted - reference) / std(reference)
  on the validation stars (the default for gandalf, whose loss is the
  reconstruction alone: minimising it would switch the disentangling off);
* ``crlb``: mean over the labels of std / median Cramer-Rao bound (validation sets
  with ``/labels_crlb``, e.g. from ``starlabel synth``).

``--trials N`` is the size the study should reach (finished trials: complete and
pruned); a rerun after a crash runs the rest, one after completion with a larger N
adds trials. A trial killed with its process is marked failed by the next process
(heartbeat) and does not count.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import shutil
import socket
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import (
    atomic_path,
    check_output_dir,
    crash_point,
    make_temp_dir,
    remove_stale_temporaries,
)
from .._config import to_toml
from .._typing import PathLike
from ..errors import StarlabelInputError
from ..models.runs import build_estimator
from ..models.space import Param, base_values, draw_config, param_from_toml
from ..spectra import Spectra
from ..spectra.io.hdf5 import dataset_fingerprint, read_dataset
from ..training import TrainingDeadline, deadline, epoch_hook

__all__ = ["METRICS", "TuneResult", "open_storage", "read_space", "score", "tune"]

#: objective name -> what it is (all are minimised)
METRICS = {
    "loss": "the model's validation loss",
    "scatter": "mean over labels of std(predicted - reference) / std(reference)",
    "crlb": "mean over labels of std / median Cramer-Rao bound",
}
PRUNERS = ("median", "hyperband", "none")
MARKER = "_starlabel_tune.json"
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


def _optuna():
    try:
        import optuna
    except ImportError as exc:
        raise StarlabelInputError(
            "starlabel tune needs Optuna: pip install 'starlabel[tune]'"
        ) from exc
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # our own line per trial
    return optuna


def open_storage(url: str) -> Any:
    """An Optuna storage for ``url`` (SQLite: waits for a busy file instead of
    failing; a heartbeat marks trials of killed processes as failed).

    Raises:
        StarlabelInputError: a URL that cannot be opened, in one line.
    """
    optuna = _optuna()
    kwargs: dict[str, Any] = {"heartbeat_interval": 30, "grace_period": 90}
    if url.startswith("sqlite:"):
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 120}}
    for attempt in range(4):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(url, **kwargs)
        except Exception as exc:  # sqlalchemy, a missing driver, a bad URL, ...
            # two processes creating the same new database race on its schema:
            # the loser finds it made a moment later
            racing = type(exc).__name__ in ("IntegrityError", "OperationalError")
            if racing and attempt < 3:
                time.sleep(0.5 + attempt)
                continue
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise StarlabelInputError(
                f"--storage {url!r}: cannot open it ({type(exc).__name__}: {first})"
            ) from None
    raise AssertionError("unreachable")


def read_space(
    path: PathLike | None, default: Mapping[str, Param], base: dict[str, Any]
) -> dict[str, Param]:
    """The search space: the model's, with a user's TOML file applied::

        only = false            # true: search only the parameters below
        [space]
        "train.lr" = {low = 1e-4, high = 1e-2, log = true}
        "cnn.kernel_size" = {low = 4, high = 32}
        "train.batch_size" = {choices = [32, 64]}

    Raises:
        StarlabelInputError: unreadable TOML, unknown keys, or a parameter that is
            not a field of the model's config (named in the message).
    """
    import tomllib

    if path is None:
        return dict(default)
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StarlabelInputError("no such file", path=path) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise StarlabelInputError(f"not valid TOML: {exc}", path=path) from None
    unknown = sorted(set(data) - {"only", "space"})
    if unknown:
        raise StarlabelInputError(
            f"unknown keys {unknown}; a search-space file has `only` and [space]",
            path=path,
        )
    space = {} if data.get("only", False) else dict(default)
    try:
        for name, spec in data.get("space", {}).items():
            space[name] = param_from_toml(name, spec, base)
    except ValueError as exc:
        raise StarlabelInputError(str(exc), path=path) from None
    if not space:
        raise StarlabelInputError("the search space is empty", path=path)
    return space


def _suggest(trial: Any, name: str, param: Param) -> Any:
    from ..models.space import Choice, FloatRange

    if isinstance(param, Choice):
        return trial.suggest_categorical(name, list(param.values))
    if isinstance(param, FloatRange):
        return trial.suggest_float(name, param.low, param.high, log=param.log)
    return trial.suggest_int(name, param.low, param.high, log=param.log)


def _data(source: PathLike | Spectra) -> tuple[Spectra, str]:
    """The spectra and a key of their content (the study records it)."""
    if isinstance(source, Spectra):
        ids = "\n".join(map(str, source.ids.tolist())).encode()
        key = f"{source.n_spectra}x{source.n_pixels}:{hashlib.sha256(ids).hexdigest()[:16]}"
        return source, key
    return read_dataset(source), dataset_fingerprint(source)


def score(estimator: Any, valid: Spectra, metric: str) -> float:
    """The objective ``metric`` of a fitted model on the validation stars."""
    from ..diagnostics.metrics import label_metrics

    if metric == "loss":
        return float(estimator.validation_loss())
    pred = estimator.predict(valid)
    values = []
    for j, name in enumerate(pred.label_names):
        ref = valid.labels[name]
        m = label_metrics(name, pred.mean[:, j], ref, crlb=valid.labels_crlb.get(name))
        if metric == "scatter":
            values.append(m.std / float(np.nanstd(ref)))
        else:
            values.append(m.sigma_over_crlb)
    value = float(np.mean(values))
    return value if math.isfinite(value) else math.nan


def _check_folder(output: Path, overwrite: bool) -> None:
    """A tune folder is ours (marker), new, empty, or --overwrite was given."""
    if (output / MARKER).is_file():
        return
    check_output_dir(output, overwrite=overwrite, command="tune")


def _check_study(study: Any, attrs: dict[str, Any], name: str, url: str) -> None:
    old = study.user_attrs
    if not old:  # a study made by this call (or by Optuna directly)
        for key, value in attrs.items():
            study.set_user_attr(key, value)
        return
    for key, flag in (
        ("model", "--model"),
        ("metric", "--metric"),
        ("labels", "--labels"),
        ("data", "training/validation data"),
    ):
        if key in old and old[key] != attrs[key]:
            raise StarlabelInputError(
                f"study {name!r} in {url} was made for {flag} {old[key]} (now "
                f"{attrs[key]}); give another --study to start a new one"
            )


def tune(
    train: PathLike | Spectra,
    valid: PathLike | Spectra | None,
    output: PathLike,
    *,
    model: str | None = None,
    run: dict[str, Any] | None = None,
    preset: str | None = None,
    labels: Sequence[str] | None = None,
    trials: int = 30,
    timeout: float | None = None,
    storage: str | None = None,
    study_name: str | None = None,
    metric: str | None = None,
    pruner: str = "median",
    space_file: PathLike | None = None,
    trial_timeout: float | None = None,
    seed: int = 0,
    sampler_seed: int | None = None,
    device: str = "auto",
    overwrite: bool = False,
    on_trial: Callable[[dict[str, Any]], None] | None = None,
    **flags: Any,
) -> TuneResult:
    """Search the model's hyperparameters; write ``best.toml``, ``trials.csv`` and
    the plots into ``output``.

    Args:
        train, valid: datasets (files or ``Spectra``); without ``valid`` a seeded 20 %
            of ``train`` is held out.
        output: the tune folder (``study.db`` by default, the outputs).
        model, run, preset, labels, flags: the base configuration, as for
            ``starlabel train`` (``build_estimator``); a trial changes the fields of
            its search space and the model's ``search_fixed`` (one ensemble member).
        trials: the number of finished trials the study should reach.
        timeout: seconds after which no new trial starts.
        storage: an Optuna storage URL (default ``sqlite:///OUTPUT/study.db``).
        study_name: default ``starlabel-<model>``.
        metric: ``loss``, ``scatter`` or ``crlb`` (default: the model's).
        pruner: ``median``, ``hyperband`` or ``none``.
        space_file: a search-space TOML (:func:`read_space`).
        trial_timeout: seconds a trial may train; one that runs longer (checked
            before every mini-batch) is pruned, so an expensive corner of the space
            costs at most this much. ``None``: no limit.
        seed: each trial's training seed.
        sampler_seed: seeds the sampler (default: one per process, so that
            processes on one study draw different trials).
        on_trial: called with a summary dict after every trial of this process.

    Raises:
        StarlabelInputError: bad storage, space file, study or folder (one line).
    """
    optuna = _optuna()
    output = Path(output)
    if trials < 1:
        raise ValueError(f"--trials: expected >= 1, got {trials}")
    if pruner not in PRUNERS:
        raise ValueError(f"--pruner: choose from {', '.join(PRUNERS)}, got {pruner!r}")
    base_est = build_estimator(
        model, run=run, preset=preset, labels=labels, seed=seed, **flags
    )
    cls = type(base_est)
    metric = metric or cls.search_metric
    if metric not in METRICS:
        raise ValueError(f"--metric: choose from {', '.join(METRICS)}, got {metric!r}")
    if not cls.search_space:
        raise ValueError(f"--model {cls.kind}: no search space is declared for it")
    base = base_est._config.to_dict()
    space = read_space(space_file, cls.search_space, base)
    _check_folder(output, overwrite)
    train_sp, train_key = _data(train)
    if valid is None:
        train_sp, valid_sp = train_sp.split((0.8, 0.2), seed=seed)
        valid_key = "split 0.2"
    else:
        valid_sp, valid_key = _data(valid)
    if metric == "crlb":
        names = base_est.labels or valid_sp.label_names
        missing = [n for n in names if n not in valid_sp.labels_crlb]
        if missing:
            raise StarlabelInputError(
                f"--metric crlb: the validation set has no Cramer-Rao bounds for "
                f"{missing}"
            )
    store = open_storage(storage) if storage else None  # before writing anything
    output.mkdir(parents=True, exist_ok=True)
    url = storage or f"sqlite:///{output.absolute() / 'study.db'}"
    name = study_name or f"starlabel-{cls.kind}"
    with atomic_path(output / MARKER) as tmp:
        tmp.write_text(
            json.dumps(
                {
                    "format": "starlabel-tune",
                    "study": name,
                    "storage": url,
                    "model": cls.kind,
                },
                indent=1,
            )
        )
    store = store or open_storage(url)
    sampler = optuna.samplers.TPESampler(
        seed=sampler_seed if sampler_seed is not None else os.getpid(),
        multivariate=True,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study = optuna.create_study(
            storage=store,
            study_name=name,
            direction="minimize",
            sampler=sampler,
            pruner=_pruner(optuna, pruner),
            load_if_exists=True,
        )
    attrs = {
        "model": cls.kind,
        "metric": metric,
        "labels": list(base_est.labels) if base_est.labels else "all",
        "data": f"{train_key} | {valid_key}",
    }
    _check_study(study, attrs, name, url)
    fixed = dict(cls.search_fixed)
    ran_before = len(study.trials)  # before the base trial is enqueued: it runs now
    if not study.trials:
        # the base configuration is the first trial: the search then says whether
        # it beat what the user had (skipped where the base lies outside the space)
        start = base_values(base | fixed, space)
        if start is not None:
            study.enqueue_trial(start, user_attrs={"base": True}, skip_if_exists=True)
    counted = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    done = len(study.get_trials(deepcopy=False, states=counted))
    todo = max(trials - done, 0)
    worker = f"{socket.gethostname()}:{os.getpid()}"

    def objective(trial: Any) -> float:
        config = draw_config(base | fixed, space, lambda n, p: _suggest(trial, n, p))
        trial.set_user_attr("config", json.dumps(config))
        trial.set_user_attr("worker", worker)
        epochs = {"n": 0}
        trial.set_user_attr("epochs", 0)

        def hook(epoch: int, loss: float) -> None:
            trial.report(loss, epochs["n"])
            epochs["n"] += 1
            trial.set_user_attr("epochs", epochs["n"])
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after {epochs['n']} epochs")

        t0 = time.perf_counter()
        try:
            est = cls(
                cls.config_class.from_dict(config),
                labels=base_est.labels,
                device=device,
                random_state=seed,
                **_extra(base_est),
            )
            try:
                with epoch_hook(hook), deadline(trial_timeout), _quiet_models():
                    est.fit(train_sp, valid_sp)
            except TrainingDeadline:
                trial.set_user_attr(
                    "error", f"over --trial-timeout {trial_timeout:g} s: pruned"
                )
                raise optuna.TrialPruned(
                    f"over the time limit after {epochs['n']} epochs"
                ) from None
            if est.fit_warnings_:
                trial.set_user_attr("warnings", "; ".join(est.fit_warnings_)[:300])
            return score(est, valid_sp, metric)
        except optuna.TrialPruned:
            raise
        except (ValueError, RuntimeError) as exc:  # a network that cannot be built
            trial.set_user_attr("error", " ".join(str(exc).split())[:300])
            return math.nan
        finally:
            trial.set_user_attr("seconds", time.perf_counter() - t0)

    def after(study_: Any, trial: Any) -> None:
        _write_trials(study_, output / "trials.csv")
        if on_trial is not None:
            on_trial(_trial_line(study_, trial, trials))

    callbacks = [
        optuna.study.MaxTrialsCallback(trials, states=counted),
        after,
    ]
    if todo:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.optimize(
                objective,
                n_trials=todo,
                timeout=timeout,
                callbacks=callbacks,
                catch=(),
                gc_after_trial=True,
            )
    ran = len(study.trials) - ran_before
    return _finish(
        output,
        lambda stage: _write_summaries(
            study, stage, base, fixed, base_est, metric, url, name, ran
        ),
    )


@contextlib.contextmanager
def _quiet_models() -> Iterator[None]:
    """A trial's fit warnings go to the trials table, not the screen (each trial
    trains one member, which the CNN would warn about every time)."""
    logger = logging.getLogger("starlabel.models")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _extra(base_est: Any) -> dict[str, Any]:
    extra = getattr(base_est, "extra", ())
    return {"extra": tuple(extra)} if extra else {}


def _pruner(optuna: Any, kind: str) -> Any:
    if kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=3)
    if kind == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=2)
    return optuna.pruners.NopPruner()


def _trial_line(study: Any, trial: Any, total: int) -> dict[str, Any]:
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


def _write_trials(study: Any, path: Path) -> None:
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


def _finish(output: Path, write: Callable[[Path], TuneResult]) -> TuneResult:
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
    first and moved in last (see :func:`_finish`)."""
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


def _write_summaries(
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
    _write_trials(study, output / "trials.csv")
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
    est = type(base_est)(
        base_est.config_class.from_dict(config),
        labels=base_est.labels,
        random_state=base_est.random_state,
        **_extra(base_est),
    )
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
