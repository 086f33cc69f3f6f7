"""Multi-scale conditioning network of the cINN (Candebat et al. 2024, Fig. 3).

A 1D CNN whose intermediate feature maps condition the first coupling blocks and whose
final dense output conditions the last: conv 2, 3, ... feed blocks 1, 2, ... through two
dense layers each; the last conv's features pass the dense stack to the last block.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .banded import banded_features, banded_weights, plan_blocks

__all__ = ["ConditioningNet"]


class ConditioningNet(nn.Module):
    """Spectrum -> one condition vector per coupling block.

    Args:
        n_pixels: input length.
        cond_dims: condition width per block; ``len(cond_dims) - 1`` convolutions after
            the first feed blocks 1..n-1, the dense stack feeds block n.
        channels: output channels of each convolution (``len(cond_dims)`` of them).
        kernel_size: width of every convolution.
        pool: max-pooling factor after each convolution.
        stage_hidden: width of the first of the two dense layers of each stage.
        dense: hidden dense widths before the last block's condition.
        dropout: dropout in the dense stack.

    Example:
        >>> net = ConditioningNet(600, [8, 8, 4], channels=(4, 4, 4), pool=(2, 2, 2))
        >>> [c.shape for c in net(torch.rand(3, 600))]
        [torch.Size([3, 8]), torch.Size([3, 8]), torch.Size([3, 4])]
    """

    def __init__(
        self,
        n_pixels: int,
        cond_dims: Sequence[int],
        *,
        channels: Sequence[int] = (8, 8, 8, 8),
        kernel_size: int = 16,
        pool: Sequence[int] = (4, 2, 2, 2),
        stage_hidden: int = 128,
        dense: Sequence[int] = (256, 128),
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if len(channels) != len(cond_dims) or len(pool) != len(channels):
            raise ValueError(
                "channels, pool: one entry per coupling block "
                f"({len(cond_dims)}), got {len(channels)} and {len(pool)}"
            )
        self.n_pixels = n_pixels
        self.convs = nn.ModuleList()
        self.pools = tuple(int(p) for p in pool)
        c_in, length, sizes = 1, n_pixels, []
        for c_out, p in zip(channels, self.pools, strict=True):
            self.convs.append(nn.Conv1d(c_in, c_out, kernel_size))
            length = (length - kernel_size + 1) // p
            if length < 1:
                raise ValueError(
                    f"n_pixels: {n_pixels} pixels are too few for this network"
                )
            sizes.append(length * c_out)
            c_in = c_out
        self._plan = plan_blocks(n_pixels, [(kernel_size, p, 0.0) for p in self.pools])
        self.stages = nn.ModuleList(
            nn.Sequential(
                nn.Linear(size, stage_hidden), nn.ReLU(), nn.Linear(stage_hidden, d)
            )
            for size, d in zip(sizes[1:], cond_dims[:-1], strict=True)
        )
        head: list[nn.Module] = []
        width = sizes[-1]
        for w in dense:
            head += [nn.Linear(width, w), nn.ReLU(), nn.Dropout(dropout)]
            width = w
        head.append(nn.Linear(width, cond_dims[-1]))
        self.head = nn.Sequential(*head)

    def conv_stages(self, flux: torch.Tensor) -> list[torch.Tensor]:
        """Flattened (channel-major) output of every convolution + ReLU + pooling."""
        if flux.shape[1] != self.n_pixels:
            raise ValueError(
                f"flux: the network expects {self.n_pixels} pixels, got {flux.shape[1]}"
            )
        if flux.device.type == "cpu":  # banded products: faster on CPUs
            layers, pad, lengths = self._plan
            weights = banded_weights([(c.weight, c.bias) for c in self.convs], layers)
            return banded_features(flux, layers, weights, pad, lengths, stages=True)
        out, h = [], flux.unsqueeze(1)
        for conv, p in zip(self.convs, self.pools, strict=True):
            h = torch.relu(conv(h))
            if p > 1:
                h = nn.functional.max_pool1d(h, p)
            out.append(h.flatten(1))
        return out

    def forward(self, flux: torch.Tensor) -> list[torch.Tensor]:
        feats = self.conv_stages(flux)
        conds = [stage(f) for stage, f in zip(self.stages, feats[1:], strict=False)]
        return [*conds, self.head(feats[-1])]
