"""Hyperparameter search (``starlabel tune``): Optuna over the search space each
model declares next to its config, stored in a database, resumable and parallel.

Layer: after ``diagnostics`` (its metrics score a trial), before ``cli``."""

from .study import METRICS, TuneResult, open_storage, read_space, score, tune

__all__ = ["METRICS", "TuneResult", "open_storage", "read_space", "score", "tune"]
