"""The emulator's network with what travels with it: label and flux scalers, the
measured error per pixel, the training label box and the start candidates of the
per-star fit; and how that error is measured on the validation stars."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import torch

from ..nn import Standardizer
from ..nn.emulator import EmulatorNet


class EmulatorNetwork(torch.nn.Module):
    """Network + label and flux scalers + the emulator's error per pixel."""

    def __init__(self, n_labels: int, n_pixels: int, hidden: Sequence[int]) -> None:
        super().__init__()
        self.net = EmulatorNet(n_labels, n_pixels, hidden)
        self.scaler = Standardizer(n_labels)
        self.flux_scaler = Standardizer(n_pixels)
        self.register_buffer("error", torch.zeros(n_pixels))
        self.register_buffer("median_abs_residual", torch.zeros(n_pixels))
        self.register_buffer("median_noise", torch.zeros(n_pixels))
        self.register_buffer("lo", torch.zeros(n_labels))
        self.register_buffer("hi", torch.zeros(n_labels))
        self.register_buffer("candidates", torch.zeros(0, n_labels))

    def flux(self, x: torch.Tensor) -> torch.Tensor:
        """Flux of standardised labels ``x``."""
        return self.flux_scaler.inverse(self.net(x))

    def flux_and_jac(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Flux and its transposed Jacobian ``(n, n_labels, n_pixels)``."""
        y, jac_t = self.net.with_jacobian(x)
        return self.flux_scaler.inverse(y), jac_t * self.flux_scaler.scale


def _emulator_error(
    resid: np.ndarray, ivar: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel: the emulator's own rms error (residual variance beyond the noise,
    each star weighted by 1 / its total variance squared, 3 passes), the median
    |residual| and the median noise, over stars where the pixel is not masked."""
    good = ivar > 0
    var_noise = np.where(good, 1.0 / np.where(good, ivar, 1.0), np.nan)
    r2 = np.where(good, resid**2, np.nan)
    err2 = np.zeros(resid.shape[1])
    for _ in range(3):
        w = 1.0 / (var_noise + err2) ** 2
        num = np.nansum(w * (r2 - var_noise), axis=0)
        den = np.nansum(np.where(good, w, 0.0), axis=0)
        err2 = np.clip(num / np.maximum(den, 1e-300), 0.0, None)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # pixels masked in every star
        med_res = np.nanmedian(np.where(good, np.abs(resid), np.nan), axis=0)
        med_noise = np.nanmedian(np.sqrt(var_noise), axis=0)
    return np.sqrt(err2), np.nan_to_num(med_res), np.nan_to_num(med_noise)
