"""The cINN's network: conditioning network, invertible network and scalers."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .condnet import ConditioningNet
from .glow import ConditionalINN
from .standardize import ScaledNetwork


class CINNNetwork(ScaledNetwork):
    """``cond`` turns a spectrum into conditioning vectors, ``inn`` maps
    standardised labels to a Gaussian latent vector given them.

    Args:
        n_labels, n_pixels: labels and grid pixels.
        cond_dims: the conditioning vectors' sizes, one per block of ``inn``.
        standardize_flux: standardise flux per pixel before ``cond``.
        cond: the :class:`ConditioningNet` sizes; inn: the :class:`ConditionalINN`'s.
    """

    def __init__(
        self,
        n_labels: int,
        n_pixels: int,
        cond_dims: Sequence[int],
        *,
        standardize_flux: bool,
        cond: dict,
        inn: dict,
    ) -> None:
        super().__init__(n_labels, n_pixels, standardize_flux=standardize_flux)
        self.cond = ConditioningNet(n_pixels, cond_dims, **cond)
        self.inn = ConditionalINN(n_labels, cond_dims, **inn)

    def condition(self, flux: torch.Tensor) -> list[torch.Tensor]:
        """The conditioning vectors of flux ``(n, n_pixels)`` as observed."""
        return self.cond(self.flux_scaler(flux))

    def forward(
        self, labels: torch.Tensor, flux: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Standardised labels and flux -> latent ``z`` and ``log|det J|``."""
        return self.inn(labels, self.inn.project(self.condition(flux)))
