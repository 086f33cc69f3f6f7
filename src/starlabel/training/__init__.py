"""The shared training loop."""

from .loop import History, TrainConfig, fit_loop

__all__ = ["History", "TrainConfig", "fit_loop"]
