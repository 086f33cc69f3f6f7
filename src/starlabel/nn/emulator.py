"""A dense network from labels to a spectrum, with its Jacobian in closed form.

``EmulatorNet`` maps standardised labels ``x`` (n, n_labels) through SiLU hidden
layers to standardised flux (n, n_pixels), as The Payne (Ting et al. 2019) does with
one shared network for every pixel. :meth:`EmulatorNet.with_jacobian` returns the
output and the transposed Jacobian ``d output / d x`` (n, n_labels, n_pixels) by
forward-mode differentiation written out layer by layer: one matrix product per
layer for all labels at once, which is what makes a batched Gauss-Newton fit of thousands of
spectra fast on a CPU (``torch.func.jacfwd`` gives the same numbers, slower).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["EmulatorNet"]


def _silu_and_slope(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    s = torch.sigmoid(a)
    return a * s, s * (1 + a * (1 - s))


class EmulatorNet(torch.nn.Module):
    """Labels -> flux multilayer perceptron.

    Args:
        n_labels: inputs.
        n_pixels: outputs.
        hidden: widths of the SiLU hidden layers.

    Example:
        >>> net = EmulatorNet(3, 50, hidden=(16, 16))
        >>> y, jac = net.with_jacobian(torch.zeros(2, 3))
        >>> tuple(y.shape), tuple(jac.shape)
        ((2, 50), (2, 3, 50))
    """

    def __init__(
        self, n_labels: int, n_pixels: int, hidden: Sequence[int] = (300, 300)
    ) -> None:
        super().__init__()
        sizes = [n_labels, *hidden]
        self.hidden = torch.nn.ModuleList(
            torch.nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        )
        self.out = torch.nn.Linear(sizes[-1], n_pixels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for layer in self.hidden:
            h = torch.nn.functional.silu(layer(h))
        return self.out(h)

    def with_jacobian(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Output ``(n, n_pixels)`` and its transposed Jacobian ``(n, n_labels,
        n_pixels)`` (each row: the derivative of the spectrum by one label)."""
        h = x
        n, k = x.shape
        jac = None  # d h / d x, (n, width, k)
        for layer in self.hidden:
            a = layer(h)
            h, slope = _silu_and_slope(a)
            if jac is None:
                jac = slope[:, :, None] * layer.weight[None]
            else:
                jac = slope[:, :, None] * torch.matmul(layer.weight, jac)
        if jac is None:  # no hidden layer: linear in the labels
            jac = torch.eye(k, dtype=x.dtype, device=x.device).expand(n, k, k)
        width = jac.shape[1]
        # one product for every star and label: (n k, w) @ (w, p)
        flat = jac.transpose(1, 2).reshape(n * k, width)
        return self.out(h), (flat @ self.out.weight.T).reshape(n, k, -1)
