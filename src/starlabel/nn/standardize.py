"""Label standardisation whose statistics travel with the state_dict."""

from __future__ import annotations

import torch


class Standardizer(torch.nn.Module):
    """``z = (x - mean) / scale`` with ``mean`` and ``scale`` as registered buffers.

    Args:
        n_features: number of columns.
    """

    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("scale", torch.ones(n_features))

    @torch.no_grad()
    def fit(self, x: torch.Tensor) -> Standardizer:
        """Set the statistics from ``x`` ``(n, n_features)``, ignoring NaN."""
        finite = torch.isfinite(x)
        count = finite.sum(0).clamp_min(1)
        filled = torch.where(finite, x, torch.zeros_like(x))
        mean = filled.sum(0) / count
        var = (torch.where(finite, x - mean, torch.zeros_like(x)) ** 2).sum(0) / count
        self.mean.copy_(mean)
        self.scale.copy_(torch.sqrt(var).clamp_min(1e-8))
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.scale

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.scale + self.mean
