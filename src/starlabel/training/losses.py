"""Losses that return per-sample values and weights (see ``fit_loop``)."""

from __future__ import annotations

import torch

__all__ = ["masked_mse"]


def masked_mse(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Squared errors over the known labels only.

    Args:
        pred, target: ``(n, n_labels)``; ``target`` may hold anything where masked.
        mask: ``(n, n_labels)`` bool, True where the label is known.

    Returns:
        ``(per-sample sum of squared errors, per-sample number of known labels)``;
        their ratio of sums is the mean squared error over known labels, so a star
        with some labels missing still trains the labels it has.
    """
    err = torch.where(
        mask,
        pred - torch.where(mask, target, torch.zeros_like(target)),
        torch.zeros_like(pred),
    )
    return (err * err).sum(dim=1), mask.sum(dim=1).to(pred.dtype)
