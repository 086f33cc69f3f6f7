"""The shared training loop."""

from .loop import (
    History,
    TrainConfig,
    TrainingDeadline,
    check_deadline,
    deadline,
    epoch_hook,
    fit_loop,
    report_epoch,
)

__all__ = [
    "History",
    "TrainConfig",
    "TrainingDeadline",
    "check_deadline",
    "deadline",
    "epoch_hook",
    "fit_loop",
    "report_epoch",
]
