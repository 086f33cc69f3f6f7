"""A study's objective: one trial draws a config from the search space, trains
it with early stopping on the validation set (reporting the validation loss to the
pruner after every epoch) and scores it with the study's metric."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import clone

from ..models.space import Param, draw_config
from ..spectra import Spectra
from ..training import TrainingDeadline, deadline, epoch_hook
from .space import suggest

__all__ = ["METRICS", "Objective", "score"]

#: objective name -> what it is (all are minimised)
METRICS = {
    "loss": "the model's validation loss",
    "scatter": "mean over labels of std(predicted - reference) / std(reference)",
    "crlb": "mean over labels of std / median Cramer-Rao bound",
}


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


@dataclass(frozen=True, kw_only=True)
class Objective:
    """``study.optimize``'s objective: what every trial of one ``tune`` call
    shares (the base estimator and config, the space, the data, the metric)."""

    optuna: Any
    cls: type
    base_est: Any
    base: dict[str, Any]
    fixed: dict[str, Any]
    space: dict[str, Param]
    train: Spectra
    valid: Spectra
    metric: str
    device: str
    seed: int
    trial_timeout: float | None
    worker: str

    def __call__(self, trial: Any) -> float:
        """Train and score the config ``trial`` draws (NaN: it cannot be built)."""
        config = draw_config(
            self.base | self.fixed, self.space, lambda n, p: suggest(trial, n, p)
        )
        trial.set_user_attr("config", json.dumps(config))
        trial.set_user_attr("worker", self.worker)
        epochs = {"n": 0}
        trial.set_user_attr("epochs", 0)

        def hook(epoch: int, loss: float) -> None:
            trial.report(loss, epochs["n"])
            epochs["n"] += 1
            trial.set_user_attr("epochs", epochs["n"])
            if trial.should_prune():
                raise self.optuna.TrialPruned(f"pruned after {epochs['n']} epochs")

        t0 = time.perf_counter()
        try:
            est = clone(self.base_est).set_params(
                config=self.cls.config_class.from_dict(config),
                device=self.device,
                random_state=self.seed,
                show_progress=False,
            )
            try:
                with epoch_hook(hook), deadline(self.trial_timeout), _quiet_models():
                    est.fit(self.train, self.valid)
            except TrainingDeadline:
                trial.set_user_attr(
                    "error", f"over --trial-timeout {self.trial_timeout:g} s: pruned"
                )
                raise self.optuna.TrialPruned(
                    f"over the time limit after {epochs['n']} epochs"
                ) from None
            if est.fit_warnings_:
                trial.set_user_attr("warnings", "; ".join(est.fit_warnings_)[:300])
            return score(est, self.valid, self.metric)
        except self.optuna.TrialPruned:
            raise
        except (ValueError, RuntimeError) as exc:  # a network that cannot be built
            trial.set_user_attr("error", " ".join(str(exc).split())[:300])
            return math.nan
        finally:
            trial.set_user_attr("seconds", time.perf_counter() - t0)


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
