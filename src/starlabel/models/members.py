"""The seeded member loop every ensemble model trains with, and member selection.

Member ``k`` of a model with ``random_state`` r is trained from seed ``r + k``:
torch's global generator is seeded (inside a forked RNG state, so the caller's is
untouched) before the network is built, and the mini-batch order comes from its
own generator with the same seed. So a member is the same whether it is trained
alone or in an ensemble, first or last.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..training import History, TrainConfig, fit_loop

__all__ = ["Member", "ProgressBar", "keep_best", "member_history", "train_members"]


@dataclass
class Member:
    """A trained network, its seed and its training history."""

    module: torch.nn.Module
    seed: int
    history: History

    @property
    def loss(self) -> float:
        """The best validation loss (NaN when it diverged)."""
        return float(self.history.best_valid_loss)


class ProgressBar:
    """A rich progress bar over members and epochs (library code prints nothing else)."""

    def __init__(self, n_members: int, max_epochs: int) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self._p = Progress(
            TextColumn("[bold]train[/] {task.description}"),
            BarColumn(),
            TextColumn("{task.fields[losses]}"),
            TimeElapsedColumn(),
            transient=False,
        )
        self._p.start()
        self._task = self._p.add_task("", total=n_members * max_epochs, losses="")
        self._max = max_epochs
        self._n = n_members

    def member(self, k: int) -> Callable[[int, History], None]:
        def update(epoch: int, history: History) -> None:
            self._p.update(
                self._task,
                completed=k * self._max + epoch + 1,
                description=f"member {k + 1}/{self._n} epoch {epoch + 1}",
                losses=f"train {history.train_loss[-1]:.4f} valid {history.valid_loss[-1]:.4f}",
            )

        return update

    def close(self) -> None:
        self._p.update(self._task, completed=self._n * self._max)
        self._p.stop()


def train_members(
    build: Callable[[int], torch.nn.Module],
    loss: Callable[..., Any],
    train: Sequence[torch.Tensor],
    valid: Sequence[torch.Tensor],
    config: TrainConfig,
    *,
    n_members: int,
    random_state: int,
    device: torch.device,
    show_progress: bool = False,
) -> list[Member]:
    """Train ``n_members`` networks with :func:`~starlabel.training.fit_loop`.

    Args:
        build: ``build(seed)`` returns a new network on ``device`` with its scalers
            fitted (called right after torch's generator is seeded with ``seed``).
        loss: the per-sample loss of ``fit_loop``.
        train, valid: the batch tensors.
        config: the loop's settings.
        n_members: how many to train; member ``k`` has seed ``random_state + k``.
        device: where training runs; on a GPU, finished members wait on the CPU.
        show_progress: draw a progress bar over members and epochs.
    """
    progress = ProgressBar(n_members, config.max_epochs) if show_progress else None
    members = []
    for k in range(n_members):
        seed = int(random_state) + k
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            module = build(seed)
            history = fit_loop(
                module,
                loss,
                train,
                valid,
                config,
                generator=torch.Generator().manual_seed(seed),
                progress=None if progress is None else progress.member(k),
            )
        if device.type != "cpu":
            module = module.cpu()
        members.append(Member(module, seed, history))
    if progress is not None:
        progress.close()
    return members


def keep_best(members: Sequence[Member], n_keep: int) -> list[Member]:
    """The ``n_keep`` members of lowest validation loss, in that order (a diverged
    member, NaN or inf, ranks last; ties keep training order)."""
    losses = np.array([m.loss for m in members], dtype=float)
    order = np.argsort(np.where(np.isfinite(losses), losses, np.inf), kind="stable")
    return [members[i] for i in order[:n_keep]]


def member_history(
    members: Sequence[Member], kept: Sequence[Member]
) -> list[dict[str, Any]]:
    """Every member's history with its seed and whether it was kept (history.json)."""
    ids = {id(m) for m in kept}
    return [
        m.history.to_dict() | {"seed": m.seed, "kept": id(m) in ids} for m in members
    ]
