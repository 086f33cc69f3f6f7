"""The emulator's network and what travels with it in its weight file."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .emulator import EmulatorNet
from .standardize import ScaledNetwork


class EmulatorNetwork(ScaledNetwork):
    """Standardised labels -> flux, with the label and flux scalers, the emulator's
    measured error per pixel, the training label box (``lo``, ``hi``, standardised)
    and the start candidates of the per-star fit."""

    def __init__(self, n_labels: int, n_pixels: int, hidden: Sequence[int]) -> None:
        super().__init__(n_labels, n_pixels, standardize_flux=True)
        self.net = EmulatorNet(n_labels, n_pixels, hidden)
        self.register_buffer("error", torch.zeros(n_pixels))
        self.register_buffer("median_abs_residual", torch.zeros(n_pixels))
        self.register_buffer("median_noise", torch.zeros(n_pixels))
        self.register_buffer("lo", torch.zeros(n_labels))
        self.register_buffer("hi", torch.zeros(n_labels))
        self.register_buffer("candidates", torch.zeros(0, n_labels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Flux of standardised labels ``x``."""
        return self.flux(x)

    def flux(self, x: torch.Tensor) -> torch.Tensor:
        """Flux of standardised labels ``x``."""
        return self.flux_scaler.inverse(self.net(x))

    def flux_and_jac(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Flux and its transposed Jacobian ``(n, n_labels, n_pixels)``."""
        y, jac_t = self.net.with_jacobian(x)
        return self.flux_scaler.inverse(y), jac_t * self.flux_scaler.scale
