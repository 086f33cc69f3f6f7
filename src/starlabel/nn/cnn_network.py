"""The CNN regressor's network: a :class:`ConvRegressor` with its scalers."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .conv1d import ConvRegressor
from .standardize import ScaledNetwork


class CNNNetwork(ScaledNetwork):
    """One ensemble member: flux (and extra inputs) -> standardised outputs.

    Args:
        n_pixels, n_labels: the grid's pixels and the labels predicted.
        n_outputs: ``n_labels`` (MSE) or ``2 * n_labels`` (a mean and a log
            variance per label, ``beta_nll``).
        standardize_flux: standardise flux per pixel before the network.
        **layers: the :class:`ConvRegressor` sizes.
    """

    def __init__(
        self,
        n_pixels: int,
        n_labels: int,
        n_outputs: int,
        *,
        standardize_flux: bool,
        channels: Sequence[int],
        kernel_size: int,
        pool: Sequence[int],
        dense: Sequence[int],
        dropout: float,
        slope: float,
        n_extra: int,
        batch_norm: bool,
    ) -> None:
        super().__init__(n_labels, n_pixels, standardize_flux=standardize_flux)
        self.net = ConvRegressor(
            n_pixels,
            n_outputs,
            channels=channels,
            kernel_size=kernel_size,
            pool=pool,
            dense=dense,
            dropout=dropout,
            slope=slope,
            n_extra=n_extra,
            batch_norm=batch_norm,
        )

    def forward(
        self, flux: torch.Tensor, extra: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Flux ``(n, n_pixels)`` as observed -> outputs in standardised units."""
        return self.net(self.flux_scaler(flux), extra)
