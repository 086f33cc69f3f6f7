"""1D convolutional regressor (Ambrosch et al. 2023; hybrid inputs of Guiglion 2024)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .banded import BandedLayer, banded_features, banded_weights, plan_blocks

__all__ = ["ConvRegressor", "BandedConvRegressor"]


class ConvRegressor(nn.Module):
    """Conv1D feature extractor + dense head, with optional extra (non-spectral) inputs.

    With the defaults this is the network of Ambrosch et al. 2023 (thesis Table 2; the
    max-pooling is applied before each LeakyReLU, which gives identical outputs):
    Conv1D(8, 20) -> LeakyReLU(0.3) -> MaxPool(2) -> Conv1D(6, 20) -> LeakyReLU ->
    MaxPool(2) -> Conv1D(4, 20) -> LeakyReLU -> Flatten -> Dropout(0.2) ->
    Dense 64 -> Dropout -> LeakyReLU -> Dense 128 -> Dropout -> LeakyReLU -> Dense 32
    -> Dropout -> LeakyReLU -> Dense n_outputs. "Valid" convolutions, so the network
    adapts to any number of pixels.

    Args:
        n_pixels: input length.
        n_outputs: number of labels.
        channels: output channels of each convolution.
        kernel_size: width of every convolution.
        pool: max-pooling factor after each convolution (1 = none).
        dense: widths of the hidden dense layers.
        dropout: dropout rate before each dense layer.
        slope: negative slope of the LeakyReLU.
        n_extra: extra per-star inputs joined to the flattened features
            (magnitudes, parallax, XP coefficients).
        batch_norm: batch normalisation after each convolution.

    Example:
        >>> net = ConvRegressor(8669, 5)
        >>> sum(p.numel() for p in net.parameters())
        560599
    """

    def __init__(
        self,
        n_pixels: int,
        n_outputs: int,
        *,
        channels: Sequence[int] = (8, 6, 4),
        kernel_size: int = 20,
        pool: Sequence[int] = (2, 2, 1),
        dense: Sequence[int] = (64, 128, 32),
        dropout: float = 0.2,
        slope: float = 0.3,
        n_extra: int = 0,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        if len(pool) != len(channels):
            raise ValueError(
                f"pool: one factor per convolution ({len(channels)}), got {len(pool)}"
            )
        layers: list[nn.Module] = []
        length, c_in = n_pixels, 1
        for c_out, p in zip(channels, pool, strict=True):
            layers.append(nn.Conv1d(c_in, c_out, kernel_size))
            if batch_norm:
                layers.append(nn.BatchNorm1d(c_out))
            length = length - kernel_size + 1
            # Pool before the activation: LeakyReLU is monotonic, so it commutes with
            # max-pooling exactly, and acting on half the values is ~25 % faster.
            if p > 1:
                layers.append(nn.MaxPool1d(p))
                length //= p
            layers.append(nn.LeakyReLU(slope))
            c_in = c_out
            if length < 1:
                raise ValueError(
                    f"n_pixels: {n_pixels} pixels are too few for this network"
                )
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.batch_norm = batch_norm
        self.n_pixels = n_pixels
        self._plan = plan_blocks(
            n_pixels, [(kernel_size, p, slope) for p in pool], block=16
        )
        self.n_features = length * c_in
        head: list[nn.Module] = []
        width = self.n_features + n_extra
        for k, w in enumerate(dense):
            head += (
                [nn.Dropout(dropout), nn.Linear(width, w)]
                if k == 0
                else [nn.Linear(width, w)]
            )
            head += [nn.Dropout(dropout), nn.LeakyReLU(slope)]
            width = w
        head.append(nn.Linear(width, n_outputs))
        self.head = nn.Sequential(*head)
        self.n_extra = n_extra

    def forward(
        self, flux: torch.Tensor, extra: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``(n, n_pixels)`` flux (and ``(n, n_extra)`` extras) -> ``(n, n_outputs)``."""
        if flux.device.type == "cpu" and not self.batch_norm:
            # Same function, computed as banded matrix products: several times faster
            # on CPUs, forward and backward (see starlabel.nn.banded).
            z = self.banded_features(flux, self.banded_weights())
        else:
            z = self.features(flux.unsqueeze(1))
        if self.n_extra:
            if extra is None:
                raise ValueError(
                    f"extra: the network expects {self.n_extra} extra inputs"
                )
            z = torch.cat([z, extra], dim=1)
        return self.head(z)

    def forward_with_features(
        self, flux: torch.Tensor, extra: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The outputs and the last hidden layer's activations ``(n, dense[-1])``
        (the learned features the OOD score measures distances in)."""
        hidden = _Capture(self.head)
        try:
            out = self(flux, extra)
        finally:
            hidden.remove()
        return out, hidden.value

    def convolutions(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """``(weight, bias)`` of each convolution, batch normalisation folded in (eval)."""
        layers = list(self.features)
        out = []
        for i, layer in enumerate(layers):
            if not isinstance(layer, nn.Conv1d):
                continue
            weight, bias = layer.weight, layer.bias
            bn = layers[i + 1]
            if isinstance(bn, nn.BatchNorm1d):
                scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                weight = weight * scale[:, None, None]
                bias = (bias - bn.running_mean) * scale + bn.bias
            out.append((weight, bias))
        return out

    def banded_weights(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Band matrices and tiled biases of the convolutions (differentiable)."""
        layers: list[BandedLayer] = self._plan[0]
        return banded_weights(self.convolutions(), layers)

    def banded_features(
        self, flux: torch.Tensor, weights: list[tuple[torch.Tensor, torch.Tensor]]
    ) -> torch.Tensor:
        """Flattened convolutional features computed with the banded products."""
        if flux.shape[1] != self.n_pixels:
            raise ValueError(
                f"flux: the network expects {self.n_pixels} pixels, got {flux.shape[1]}"
            )
        layers, pad, lengths = self._plan
        return banded_features(flux, layers, weights, pad, lengths)


class BandedConvRegressor:
    """Inference-only twin of a :class:`ConvRegressor` for CPUs: bands built once, batch
    normalisation folded, small chunks that stay in cache. Same outputs as the module's forward in eval mode to float32 rounding; rebuild it after changing the weights.

    Example:
        >>> net = ConvRegressor(300, 2).eval()
        >>> x = torch.rand(5, 300)
        >>> fast = BandedConvRegressor(net)
        >>> bool(torch.allclose(fast(x), net(x), atol=1e-5))
        True
    """

    def __init__(self, net: ConvRegressor, *, batch_size: int = 16) -> None:
        self.net = net
        self.batch_size = batch_size
        with torch.no_grad():
            self.weights = [
                (band.contiguous(), bias.contiguous())
                for band, bias in net.banded_weights()
            ]

    def __call__(
        self,
        flux: torch.Tensor,
        extra: torch.Tensor | None = None,
        *,
        with_features: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """``(n, n_pixels)`` flux (and ``(n, n_extra)`` extras) -> ``(n, n_outputs)``;
        with ``with_features`` also the last hidden activations."""
        net = self.net
        if net.n_extra and extra is None:
            raise ValueError(f"extra: the network expects {net.n_extra} extra inputs")
        parts, hidden = [], []
        capture = _Capture(net.head) if with_features else None
        try:
            with torch.inference_mode():
                for i in range(0, len(flux), self.batch_size):
                    z = net.banded_features(flux[i : i + self.batch_size], self.weights)
                    if net.n_extra:
                        z = torch.cat([z, extra[i : i + self.batch_size]], dim=1)
                    parts.append(net.head(z))
                    if capture is not None:
                        hidden.append(capture.value)
        finally:
            if capture is not None:
                capture.remove()
        if with_features:
            return torch.cat(parts), torch.cat(hidden)
        return torch.cat(parts)


class _Capture:
    """Keeps the input of the last layer of ``head`` (its last hidden activations)
    while registered."""

    def __init__(self, head: nn.Sequential) -> None:
        self.value: torch.Tensor | None = None
        self._handle = head[-1].register_forward_hook(self._hook)

    def _hook(self, module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        self.value = args[0].detach()

    def remove(self) -> None:
        self._handle.remove()
