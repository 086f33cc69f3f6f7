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

import hashlib
import json
import os
import socket
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .._atomic import atomic_path, check_output_dir
from .._typing import PathLike
from ..errors import StarlabelInputError
from ..models.runs import build_estimator
from ..models.space import base_values
from ..spectra import Spectra
from ..spectra.io.hdf5 import dataset_fingerprint, read_dataset
from .objective import METRICS, Objective
from .space import read_space
from .storage import PRUNERS, check_study, create_study, import_optuna, open_storage
from .summary import TuneResult, finish, trial_line, write_summaries, write_trials

__all__ = ["tune"]

MARKER = "_starlabel_tune.json"


def _data(source: PathLike | Spectra) -> tuple[Spectra, str]:
    """The spectra and a key of their content (the study records it)."""
    if isinstance(source, Spectra):
        ids = "\n".join(map(str, source.ids.tolist())).encode()
        key = f"{source.n_spectra}x{source.n_pixels}:{hashlib.sha256(ids).hexdigest()[:16]}"
        return source, key
    return read_dataset(source), dataset_fingerprint(source)


def _check_folder(output: Path, overwrite: bool) -> None:
    """A tune folder is ours (marker), new, empty, or --overwrite was given."""
    if (output / MARKER).is_file():
        return
    check_output_dir(output, overwrite=overwrite, command="tune")


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
    optuna = import_optuna()
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
    base = base_est.resolved_config().to_dict()
    space = read_space(space_file, cls.search_space, base)
    _check_folder(output, overwrite)
    train_sp, valid_sp, data_key = _train_valid(train, valid, seed)
    if metric == "crlb":
        _check_crlb(base_est.labels or valid_sp.label_names, valid_sp)
    store = open_storage(storage) if storage else None  # before writing anything
    output.mkdir(parents=True, exist_ok=True)
    url = storage or f"sqlite:///{output.absolute() / 'study.db'}"
    name = study_name or f"starlabel-{cls.kind}"
    _write_marker(output, name, url, cls.kind)
    study = create_study(optuna, store or open_storage(url), name, pruner, sampler_seed)
    attrs = {
        "model": cls.kind,
        "metric": metric,
        "labels": list(base_est.labels) if base_est.labels else "all",
        "data": data_key,
    }
    check_study(study, attrs, name, url)
    fixed = dict(cls.search_fixed)
    ran_before = len(study.trials)  # before the base trial is enqueued: it runs now
    if not study.trials:
        # the base configuration is the first trial: the search then says whether
        # it beat what the user had (skipped where the base lies outside the space)
        start = base_values(base | fixed, space)
        if start is not None:
            study.enqueue_trial(start, user_attrs={"base": True}, skip_if_exists=True)
    objective = Objective(
        optuna=optuna,
        cls=cls,
        base_est=base_est,
        base=base,
        fixed=fixed,
        space=space,
        train=train_sp,
        valid=valid_sp,
        metric=metric,
        device=device,
        seed=seed,
        trial_timeout=trial_timeout,
        worker=f"{socket.gethostname()}:{os.getpid()}",
    )
    _optimize(optuna, study, objective, output, trials, timeout, on_trial)
    ran = len(study.trials) - ran_before
    return finish(
        output,
        lambda stage: write_summaries(
            study, stage, base, fixed, base_est, metric, url, name, ran
        ),
    )


def _train_valid(
    train: PathLike | Spectra, valid: PathLike | Spectra | None, seed: int
) -> tuple[Spectra, Spectra, str]:
    """The training and validation spectra (a seeded 20 % of ``train`` without
    ``valid``) and the key of both the study records."""
    train_sp, train_key = _data(train)
    if valid is None:
        train_sp, valid_sp = train_sp.split((0.8, 0.2), seed=seed)
        valid_key = "split 0.2"
    else:
        valid_sp, valid_key = _data(valid)
    return train_sp, valid_sp, f"{train_key} | {valid_key}"


def _check_crlb(names: Sequence[str], valid_sp: Spectra) -> None:
    """``--metric crlb`` needs the Cramer-Rao bound of every label."""
    missing = [n for n in names if n not in valid_sp.labels_crlb]
    if missing:
        raise StarlabelInputError(
            f"--metric crlb: the validation set has no Cramer-Rao bounds for {missing}"
        )


def _write_marker(output: Path, name: str, url: str, kind: str) -> None:
    """The marker that makes the tune folder ours (and names its study)."""
    with atomic_path(output / MARKER) as tmp:
        tmp.write_text(
            json.dumps(
                {
                    "format": "starlabel-tune",
                    "study": name,
                    "storage": url,
                    "model": kind,
                },
                indent=1,
            )
        )


def _optimize(
    optuna: Any,
    study: Any,
    objective: Objective,
    output: Path,
    trials: int,
    timeout: float | None,
    on_trial: Callable[[dict[str, Any]], None] | None,
) -> None:
    """Run trials until the study has ``trials`` finished ones (complete and
    pruned) or ``timeout`` passes; ``trials.csv`` is rewritten after each."""
    counted = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    done = len(study.get_trials(deepcopy=False, states=counted))
    todo = max(trials - done, 0)

    def after(study_: Any, trial: Any) -> None:
        write_trials(study_, output / "trials.csv")
        if on_trial is not None:
            on_trial(trial_line(study_, trial, trials))

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
