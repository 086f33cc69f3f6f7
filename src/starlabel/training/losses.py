"""Losses that return per-sample values and weights (see ``fit_loop``)."""

from __future__ import annotations

import torch

__all__ = ["masked_beta_nll", "masked_mse"]


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


def masked_beta_nll(
    mean: torch.Tensor,
    log_var: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    *,
    beta: float = 0.5,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian negative log-likelihood weighted by ``stopgrad(var) ** beta`` (β-NLL),
    over the known labels only.

    ``beta = 0`` is the plain Gaussian NLL; ``beta = 1`` gives the mean the gradient
    of the MSE. β-NLL keeps the mean as accurate as with MSE while learning the
    variance, where the plain NLL lets badly fitted points be explained away by a
    large variance.

    Args:
        mean, log_var: ``(n, n_labels)`` predicted mean and log variance.
        target: ``(n, n_labels)``; anything where masked.
        mask: ``(n, n_labels)`` bool, True where the label is known.
        beta: the weight exponent, in [0, 1].

    Returns:
        ``(per-sample sum of losses, per-sample number of known labels)``.

    References:
        Seitzer et al. 2022, "On the pitfalls of heteroscedastic uncertainty
        estimation with probabilistic neural networks" (arXiv:2203.09168).
    """
    y = torch.where(mask, target, torch.zeros_like(target))
    var = torch.exp(log_var)
    nll = 0.5 * (log_var + (y - mean) ** 2 / var)
    if beta > 0:
        nll = nll * var.detach() ** beta
    nll = torch.where(mask, nll, torch.zeros_like(nll))
    return nll.sum(dim=1), mask.sum(dim=1).to(mean.dtype)
