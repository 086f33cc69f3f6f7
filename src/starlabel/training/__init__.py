"""The shared training loop."""

from .loop import History, TrainConfig, epoch_hook, fit_loop, report_epoch

__all__ = ["History", "TrainConfig", "epoch_hook", "fit_loop", "report_epoch"]
