"""Hyperparameter search (``starlabel tune``): Optuna over the search space each
model declares next to its config, stored in a database, resumable and parallel.

Layer: after ``diagnostics`` (its metrics score a trial), before ``cli``."""

from .objective import METRICS, score
from .space import read_space
from .storage import open_storage
from .study import tune
from .summary import TuneResult

__all__ = ["METRICS", "TuneResult", "open_storage", "read_space", "score", "tune"]
