"""One training loop for every model: seeded mini-batches, early stopping, history.

Each model supplies ``loss(module, batch)`` returning per-sample losses (averaged)
or a pair ``(per-sample values, per-sample weights)`` (the loss is
``sum(values) / sum(weights)``, as for masked labels); the loop steps the optimiser, clips gradients, evaluates on the
validation set every epoch, keeps a copy of the best weights and restores them
when the validation loss has not improved for ``patience`` epochs or
``max_epochs`` is reached.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import torch

from .._config import DictConfig

__all__ = [
    "TrainConfig",
    "History",
    "TrainingDeadline",
    "check_deadline",
    "deadline",
    "fit_loop",
    "epoch_hook",
    "report_epoch",
]

log = logging.getLogger(__name__)
Batch = Sequence[torch.Tensor]
LossFn = Callable[
    [torch.nn.Module, Batch], "torch.Tensor | tuple[torch.Tensor, torch.Tensor]"
]


#: called after each epoch of any training loop with (epoch, validation loss);
#: set by :func:`epoch_hook` (``starlabel tune`` reports to its pruner through it)
_EPOCH_HOOK: ContextVar[Callable[[int, float], None] | None] = ContextVar(
    "starlabel_epoch_hook", default=None
)


@contextmanager
def epoch_hook(hook: Callable[[int, float], None]) -> Iterator[None]:
    """Call ``hook(epoch, validation_loss)`` after every epoch trained inside the
    block (an exception it raises, e.g. a pruned trial, ends the training).

    Example:
        >>> seen = []
        >>> with epoch_hook(lambda e, v: seen.append((e, v))):
        ...     report_epoch(0, 1.5)
        >>> report_epoch(1, 1.0)  # outside: nobody listens
        >>> seen
        [(0, 1.5)]
    """
    token = _EPOCH_HOOK.set(hook)
    try:
        yield
    finally:
        _EPOCH_HOOK.reset(token)


def report_epoch(epoch: int, valid_loss: float) -> None:
    """Tell the :func:`epoch_hook` of the current block (if any) about an epoch."""
    hook = _EPOCH_HOOK.get()
    if hook is not None:
        hook(epoch, valid_loss)


#: (``time.perf_counter()`` value after which training stops, the limit in seconds)
_DEADLINE: ContextVar[tuple[float, float] | None] = ContextVar(
    "starlabel_deadline", default=None
)


class TrainingDeadline(Exception):
    """Training ran past the :func:`deadline` of its block."""


@contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Stop any training inside the block once ``seconds`` have passed: the next
    mini-batch raises :class:`TrainingDeadline` (``None``: no limit). ``starlabel
    tune --trial-timeout`` bounds a trial with it, also inside its first epoch.

    Example:
        >>> with deadline(0.0):
        ...     check_deadline()
        Traceback (most recent call last):
        ...
        starlabel.training.loop.TrainingDeadline: training ran past its time limit (0 s)
        >>> with deadline(None):
        ...     check_deadline()  # no limit
    """
    limit = None if seconds is None else (time.perf_counter() + seconds, seconds)
    token = _DEADLINE.set(limit)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def check_deadline() -> None:
    """Raise :class:`TrainingDeadline` when the current :func:`deadline` has passed
    (the training loops call it before every mini-batch)."""
    limit = _DEADLINE.get()
    if limit is not None and time.perf_counter() >= limit[0]:
        raise TrainingDeadline(f"training ran past its time limit ({limit[1]:g} s)")


def _reduce(out) -> tuple[torch.Tensor, torch.Tensor]:
    """(sum of values, sum of weights) of a loss function's output."""
    if isinstance(out, tuple):
        values, weights = out
        return values.sum(), weights.sum()
    return out.sum(), torch.tensor(
        float(out.numel()), dtype=out.dtype, device=out.device
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class TrainConfig(DictConfig):
    """Settings of the training loop.

    Defaults follow Ambrosch et al. 2023 where they apply (SGD, lr 1e-4, batch 16,
    patience 30); Adam and a learning-rate schedule are options.

    Attributes:
        max_epochs: upper limit of epochs.
        patience: epochs without validation improvement before stopping.
        batch_size: mini-batch size.
        optimizer: ``"sgd"`` or ``"adam"``.
        lr: learning rate.
        momentum: SGD momentum.
        weight_decay: L2 penalty.
        lr_schedule: ``"none"``, ``"step"`` (multiply by ``lr_gamma`` at
            ``lr_step_epochs``), ``"plateau"`` (multiply by ``lr_gamma`` after
            ``patience // 3`` epochs without improvement) or ``"cosine"`` (from
            ``lr`` down to ``lr * lr_gamma`` over ``max_epochs`` along half a cosine:
            a budget of epochs fixed in advance, no cut triggered by a noisy
            validation loss).
        lr_step_epochs: epochs at which the step schedule multiplies the rate.
        lr_gamma: factor of the schedule.
        grad_clip: maximum gradient norm (``None``: no clipping).
        min_delta: improvement below this does not count.
    """

    max_epochs: int = 500
    patience: int = 30
    batch_size: int = 16
    optimizer: Literal["sgd", "adam"] = "sgd"
    lr: float = 1e-4
    momentum: float = 0.0
    weight_decay: float = 0.0
    lr_schedule: Literal["none", "step", "plateau", "cosine"] = "none"
    lr_step_epochs: tuple[int, ...] = ()
    lr_gamma: float = 0.1
    grad_clip: float | None = None
    min_delta: float = 0.0

    def __post_init__(self) -> None:
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(
                f"optimizer: expected 'sgd' or 'adam', got {self.optimizer!r}"
            )
        if self.lr_schedule not in ("none", "step", "plateau", "cosine"):
            raise ValueError(
                "lr_schedule: expected none, step, plateau or cosine, got "
                f"{self.lr_schedule!r}"
            )
        for name in ("max_epochs", "patience", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: expected >= 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"lr: expected > 0, got {self.lr}")


@dataclass
class History:
    """Loss per epoch, the best epoch and why training stopped."""

    train_loss: list[float] = field(default_factory=list)
    valid_loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    best_epoch: int = -1
    best_valid_loss: float = math.inf
    stopped: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _batches(
    n: int, batch_size: int, generator: torch.Generator | None
) -> list[torch.Tensor]:
    order = (
        torch.randperm(n, generator=generator)
        if generator is not None
        else torch.arange(n)
    )
    return list(torch.split(order, batch_size))


def _mean_loss(
    module: torch.nn.Module, loss_fn: LossFn, data: Batch, batch_size: int
) -> float:
    module.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for idx in _batches(data[0].shape[0], max(batch_size, 256), None):
            value, weight = _reduce(loss_fn(module, [t[idx] for t in data]))
            total += float(value)
            count += float(weight)
    return total / count if count > 0 else math.nan


def cosine_lr(config: TrainConfig, epoch: int) -> float:
    """Learning rate of epoch ``epoch`` under the cosine schedule.

    Example:
        >>> c = TrainConfig(lr=1e-3, lr_gamma=0.01, max_epochs=11, lr_schedule="cosine")
        >>> round(cosine_lr(c, 0), 6), round(cosine_lr(c, 5), 6), round(cosine_lr(c, 10), 6)
        (0.001, 0.000505, 1e-05)
    """
    low = config.lr * config.lr_gamma
    t = epoch / max(config.max_epochs - 1, 1)
    return low + 0.5 * (config.lr - low) * (1.0 + math.cos(math.pi * t))


def fit_loop(
    module: torch.nn.Module,
    loss_fn: LossFn,
    train: Batch,
    valid: Batch | None,
    config: TrainConfig,
    *,
    generator: torch.Generator,
    progress: Callable[[int, History], None] | None = None,
) -> History:
    """Train ``module`` in place and return its :class:`History`.

    Args:
        module: the network (its parameters are optimised).
        loss_fn: per-sample losses of a batch; a batch is ``[t[idx] for t in train]``.
        train: tensors with the samples on axis 0 (already on the module's device).
        valid: validation tensors, or ``None`` to stop on the training loss.
        config: the loop settings.
        generator: seeds the mini-batch order (and nothing else), for
            reproducible training.
        progress: called after each epoch with the epoch number and the history.
    """
    params = [p for p in module.parameters() if p.requires_grad]
    if config.optimizer == "sgd":
        opt: torch.optim.Optimizer = torch.optim.SGD(
            params,
            lr=config.lr,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
        )
    else:
        opt = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    plateau = 0
    history = History()
    best_state = copy.deepcopy(module.state_dict())
    since_best = 0
    t0 = time.perf_counter()
    n = train[0].shape[0]
    for epoch in range(config.max_epochs):
        if config.lr_schedule == "step" and epoch in config.lr_step_epochs:
            for group in opt.param_groups:
                group["lr"] *= config.lr_gamma
        elif config.lr_schedule == "cosine":
            for group in opt.param_groups:
                group["lr"] = cosine_lr(config, epoch)
        module.train()
        total, count = 0.0, 0
        for idx in _batches(n, config.batch_size, generator):
            check_deadline()
            batch = [t[idx] for t in train]
            value, weight = _reduce(loss_fn(module, batch))
            if float(weight) == 0:
                continue
            loss = value / weight
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
            opt.step()
            total += float(value.detach())
            count += float(weight)
        history.train_loss.append(total / max(count, 1))
        history.lr.append(opt.param_groups[0]["lr"])
        current = (
            _mean_loss(module, loss_fn, valid, config.batch_size)
            if valid is not None
            else history.train_loss[-1]
        )
        history.valid_loss.append(current)
        if not math.isfinite(current):
            history.stopped = f"loss became {current} at epoch {epoch}"
            break
        if current < history.best_valid_loss - config.min_delta:
            history.best_valid_loss = current
            history.best_epoch = epoch
            best_state = copy.deepcopy(module.state_dict())
            since_best = 0
            plateau = 0
        else:
            since_best += 1
            plateau += 1
            if config.lr_schedule == "plateau" and plateau >= max(
                1, config.patience // 3
            ):
                for group in opt.param_groups:
                    group["lr"] *= config.lr_gamma
                plateau = 0
        if progress is not None:
            progress(epoch, history)
        report_epoch(epoch, current)
        if since_best >= config.patience:
            history.stopped = f"early stop: no improvement for {config.patience} epochs"
            break
    else:
        history.stopped = f"reached max_epochs = {config.max_epochs}"
    module.load_state_dict(best_state)
    module.eval()
    history.seconds = time.perf_counter() - t0
    return history
