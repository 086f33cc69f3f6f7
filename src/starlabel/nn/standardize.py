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


class IdentityScaler(torch.nn.Module):
    """The scaler of a network that takes flux as it is: no statistics, no state."""

    @torch.no_grad()
    def fit(self, x: torch.Tensor) -> IdentityScaler:
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        return z


def _rename_old_scaler(state_dict, prefix, *args) -> None:
    """Model directories of format 1 named the label scaler ``scaler``."""
    old = prefix + "scaler."
    for key in [k for k in state_dict if k.startswith(old)]:
        state_dict[prefix + "label_scaler." + key[len(old) :]] = state_dict.pop(key)


class ScaledNetwork(torch.nn.Module):
    """What every model's network carries besides its layers: ``label_scaler`` (labels
    to standardised units) and ``flux_scaler`` (per-pixel standardisation, or the
    identity when the model takes flux as it is). Both travel in the state_dict.

    Args:
        n_labels: labels the scaler standardises.
        n_pixels: pixels of the flux scaler.
        standardize_flux: a fitted per-pixel flux scaler (else the identity).
    """

    def __init__(self, n_labels: int, n_pixels: int, *, standardize_flux: bool) -> None:
        super().__init__()
        self.label_scaler = Standardizer(n_labels)
        self.flux_scaler: torch.nn.Module = (
            Standardizer(n_pixels) if standardize_flux else IdentityScaler()
        )
        self._register_load_state_dict_pre_hook(_rename_old_scaler)

    @torch.no_grad()
    def fit_scalers(
        self, labels: torch.Tensor | None, flux: torch.Tensor | None
    ) -> None:
        """Statistics from the training labels and flux (NaN ignored); a pixel that
        hardly varies in training (scatter < 1e-3) must not blow up on new spectra."""
        if labels is not None:
            self.label_scaler.fit(labels)
        if flux is not None and isinstance(self.flux_scaler, Standardizer):
            self.flux_scaler.fit(flux)
            self.flux_scaler.scale.clamp_(min=1e-3)
