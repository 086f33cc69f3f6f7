"""Convolutions with few channels as banded matrix products (fast on CPUs).

A convolution with the paper's 8/6/4 channels is a poor fit for the CPU convolution
kernels: each input value feeds only a handful of outputs, and their backward pass is
slower still. Here the signal is kept channels-last, cut into blocks of ``T`` output
positions, and each block is one row of a matrix product with a banded ("Toeplitz")
weight matrix of shape ``((T + K - 1) * C_in, T * C_out)``. The product does
``(T + K - 1) / K`` times the arithmetic of a direct convolution but runs near the
machine's matrix-product speed, forward and backward (everything here is differentiable).
The band's columns are ordered (pooling phase, pooled position, channel), so a following
max-pooling is an element-wise maximum of contiguous column groups.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = [
    "BandedLayer",
    "banded_weight",
    "banded_weights",
    "plan_blocks",
    "banded_features",
]

BLOCK = 16  # output positions per block; suits 2-core AVX2 machines


def banded_weight(weight: torch.Tensor, block: int, pool: int = 1) -> torch.Tensor:
    """``(C_out, C_in, K)`` kernel -> ``((block + K - 1) * C_in, block * C_out)`` band.

    Rows are ordered (input position, input channel); columns (pooling phase, pooled
    position, output channel), i.e. output position ``q * pool + phase``. Differentiable.

    Example:
        >>> w = torch.arange(1.0, 4.0).reshape(1, 1, 3)
        >>> banded_weight(w, 2)
        tensor([[1., 0.],
                [2., 1.],
                [3., 2.],
                [0., 3.]])
    """
    c_out, c_in, k = weight.shape
    rows = block + k - 1
    order = torch.arange(block).reshape(block // pool, pool).t().reshape(-1)
    offset = torch.arange(rows)[:, None] - order[None, :]  # (rows, block)
    index = torch.where((offset >= 0) & (offset < k), offset, k)
    kernel = weight.permute(2, 1, 0)  # (K, C_in, C_out)
    kernel = torch.cat([kernel, kernel.new_zeros(1, c_in, c_out)])  # index K -> 0
    band = kernel[index]  # (rows, block, C_in, C_out)
    return band.permute(0, 2, 1, 3).reshape(rows * c_in, block * c_out)


@dataclass(frozen=True, slots=True)
class BandedLayer:
    """Static shape of one convolution (+ pooling + LeakyReLU) in the banded form."""

    kernel_size: int
    pool: int
    slope: float
    block: int
    n_blocks: int


def plan_blocks(
    n_pixels: int, layers: list[tuple[int, int, float]], block: int = BLOCK
) -> tuple[list[BandedLayer], int, int]:
    """Block counts so that every layer's output covers the next layer's windows.

    Args:
        n_pixels: input length.
        layers: ``(kernel_size, pool, slope)`` per convolution.
        block: output positions per block (rounded down to a multiple of the pool).

    Returns:
        The layers, the zero padding the input needs, and each layer's valid output
        length.
    """
    lengths = [n_pixels]
    for k, p, _ in layers:
        lengths.append((lengths[-1] - k + 1) // p)
    planned: list[BandedLayer] = []
    rows = lengths[-1]
    for (k, p, slope), n_in in zip(
        reversed(layers), reversed(lengths[:-1]), strict=True
    ):
        t = max(p, block - block % p)
        n_blocks = max(-(-(n_in - k + 1) // t), -(-rows // (t // p)))
        planned.insert(0, BandedLayer(k, p, slope, t, n_blocks))
        rows = n_blocks * t + k - 1
    return planned, max(0, rows - n_pixels), lengths[1:]


def banded_weights(
    convs: list[tuple[torch.Tensor, torch.Tensor]], layers: list[BandedLayer]
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Band matrix and bias tiled over the block for each ``(weight, bias)``."""
    return [
        (banded_weight(w, layer.block, layer.pool), b.repeat(layer.block))
        for (w, b), layer in zip(convs, layers, strict=True)
    ]


def banded_features(
    flux: torch.Tensor,
    layers: list[BandedLayer],
    weights: list[tuple[torch.Tensor, torch.Tensor]],
    pad: int,
    lengths: list[int],
    *,
    stages: bool = False,
) -> torch.Tensor | list[torch.Tensor]:
    """Convolution stack on ``(B, n_pixels)`` flux -> ``(B, C_last * L_last)`` features.

    ``weights`` holds per layer the band (:func:`banded_weight`) and the bias tiled over
    the block; ``lengths`` each layer's valid output length (:func:`plan_blocks`).
    Features are flattened channel-major, like ``nn.Flatten`` on ``(B, C, L)``. With
    ``stages`` the flattened output of every layer is returned.
    """
    b = flux.shape[0]
    h = F.pad(flux, (0, pad))
    outputs = []
    for i, (layer, (band, bias)) in enumerate(zip(layers, weights, strict=True)):
        width = band.shape[0]
        c_in = width // (layer.block + layer.kernel_size - 1)
        windows = h.reshape(b, -1).unfold(1, width, layer.block * c_in)
        windows = windows[:, : layer.n_blocks]
        out = torch.addmm(bias, windows.reshape(b * layer.n_blocks, width), band)
        if layer.pool > 1:
            parts = out.view(out.shape[0], layer.pool, -1).unbind(1)
            out = parts[0]
            for part in parts[1:]:
                out = torch.maximum(out, part)
        h = F.leaky_relu(out, layer.slope)
        if stages or i == len(layers) - 1:
            c_out = band.shape[1] // layer.block
            valid = h.reshape(b, -1, c_out)[:, : lengths[i]]
            outputs.append(valid.transpose(1, 2).reshape(b, -1))
    return outputs if stages else outputs[-1]
