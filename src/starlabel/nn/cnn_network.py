"""The CNN regressor's network: a :class:`ConvRegressor` with its scalers and,
censored, one small dense branch per censored label that sees only its pixels."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from .autoencoder import mlp
from .conv1d import ConvRegressor
from .standardize import ScaledNetwork


class CNNNetwork(ScaledNetwork):
    """One ensemble member: flux (and extra inputs) -> standardised outputs.

    Args:
        n_pixels, n_labels: the grid's pixels and the labels predicted.
        n_outputs: ``n_labels`` (MSE) or ``2 * n_labels`` (a mean and a log
            variance per label, ``beta_nll``).
        standardize_flux: standardise flux per pixel before the network.
        censor: label index -> the pixel indices its output may see (censoring,
            Leung & Bovy 2019): that label's outputs come from a dense branch
            (``branch_hidden``) on those pixels alone, so they have no gradient
            with respect to any other pixel.
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
        censor: Mapping[int, torch.Tensor] | None = None,
        branch_hidden: Sequence[int] = (32, 16),
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
        self.n_labels = n_labels
        per_label = n_outputs // n_labels
        self.censored = sorted((censor or {}).keys())
        self.branches = torch.nn.ModuleList()
        for k, j in enumerate(self.censored):
            index = torch.as_tensor(censor[j], dtype=torch.long)
            self.register_buffer(f"censor_index_{k}", index)
            self.branches.append(mlp([index.numel(), *branch_hidden, per_label]))

    def forward(
        self, flux: torch.Tensor, extra: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Flux ``(n, n_pixels)`` as observed -> outputs in standardised units."""
        scaled = self.flux_scaler(flux)
        return self.censor_outputs(scaled, self.net(scaled, extra))

    def censor_outputs(self, scaled: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """``out`` with each censored label's outputs (value; log variance for
        ``beta_nll``) from its branch on its own pixels of ``scaled`` flux."""
        if not self.censored:
            return out
        cols = list(out.unbind(1))
        for k, j in enumerate(self.censored):
            index = getattr(self, f"censor_index_{k}")
            y = self.branches[k](scaled.index_select(1, index))
            for m in range(y.shape[1]):
                cols[j + m * self.n_labels] = y[:, m]
        return torch.stack(cols, 1)
