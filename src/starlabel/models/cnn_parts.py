"""What a CNN ensemble member computes beyond its network: the training loss
(augmentation, RV jitter, MSE or beta-NLL), the mixture of members' Gaussians, and
features for the OOD score."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from ..errors import StarlabelInputError
from ..nn import BandedConvRegressor
from ..spectra.container import Spectra
from ..spectra.preprocess import SPEED_OF_LIGHT_KMS, dense_flux
from ..training.augment import augment_batch
from ..training.losses import masked_beta_nll, masked_mse
from ._shared import noise_tensors
from .cnn_config import EnsembleConfig


def mixture_moments(
    means: np.ndarray, variances: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and the two variance parts of an equally weighted Gaussian mixture.

    Args:
        means, variances: ``(n_members, ...)`` each member's mean and variance.

    Returns:
        ``(mean, aleatoric, epistemic)``: the mixture mean, the mean of the member
        variances (data) and the variance of the member means (model, ddof 0); the
        mixture's total variance is their sum.

    Example:
        >>> m, a, e = mixture_moments(np.array([[1.0], [3.0]]), np.array([[1.0], [1.0]]))
        >>> float(m[0]), float(a[0]), float(e[0])
        (2.0, 1.0, 1.0)
    """
    means = np.asarray(means, dtype=np.float64)
    mean = means.mean(axis=0)
    return mean, np.asarray(variances, dtype=np.float64).mean(axis=0), means.var(axis=0)


def _jitter_shift(wavelength: torch.Tensor) -> torch.Tensor:
    """Pixels per km/s at each pixel (for small Doppler shifts on any grid)."""
    step = torch.diff(wavelength)
    step = torch.cat([step, step[-1:]])
    return wavelength / SPEED_OF_LIGHT_KMS / step


def _with_features(
    net: Any, flux: torch.Tensor, extra: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Outputs and last hidden activations of a member's network (either twin)."""
    if isinstance(net, BandedConvRegressor):
        return net(flux, extra, with_features=True)
    return net.forward_with_features(flux, extra)


def _shift(flux: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
    """Shift each spectrum by a (small, per-pixel varying) fractional number of pixels."""
    frac = pixels.clamp(-1.0, 1.0)
    right = torch.roll(flux, shifts=1, dims=1)  # f[i-1]: redshift moves features right
    left = torch.roll(flux, shifts=-1, dims=1)
    return torch.where(
        frac >= 0, flux * (1 - frac) + right * frac, flux * (1 + frac) - left * frac
    )


def member_loss(cfg: EnsembleConfig, per_px: torch.Tensor) -> Callable:
    jitter = cfg.rv_jitter_kms

    def loss(module: torch.nn.Module, batch: Sequence[torch.Tensor]):
        flux, extra, y, mask, sigma, snr = batch
        if module.training:
            flux = augment_batch(cfg, flux, sigma, snr)
            if cfg.augment_noise:
                flux = flux + torch.randn_like(flux) * sigma
            if jitter > 0:
                flux = _shift(
                    flux,
                    torch.randn(flux.shape[0], 1, device=flux.device) * jitter * per_px,
                )
        pred = module(flux, extra if extra.shape[1] else None)
        if cfg.loss == "beta_nll":
            n = y.shape[1]
            log_var = pred[:, n:].clamp(-30.0, 30.0)
            # beta shapes the training gradients only; validation (early
            # stopping, member selection) scores the proper Gaussian NLL
            beta = cfg.beta if module.training else 0.0
            return masked_beta_nll(
                pred[:, :n], log_var, module.label_scaler(y), mask, beta=beta
            )
        return masked_mse(pred, module.label_scaler(y), mask)

    return loss


def member_outputs(
    est: Any, spectra: Spectra, batch_size: int
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Every kept member of ``est``: its means and, for ``beta_nll`` members, variances
    ``(n_members, n_spectra, n_labels)`` in the labels' units (squared), and the
    first member's last hidden activations ``(n_spectra, dense[-1])``."""
    est._check_fitted()
    est.check_grid(spectra)
    flux, dead = dense_flux(spectra)
    extra = extra_inputs(est.extra_names_, spectra)
    dev = next(est.members_[0].parameters()).device
    n_lab = len(est.label_names_)
    shape = (len(est.members_), spectra.n_spectra, n_lab)
    out = np.empty(shape, dtype=np.float64)
    var = np.empty(shape, dtype=np.float64) if est._config.loss == "beta_nll" else None
    nets = [inference_net(module, dev) for module in est.members_]
    features = np.empty((spectra.n_spectra, est._config.cnn.dense[-1]))
    with torch.inference_mode():
        for start in range(0, spectra.n_spectra, batch_size):
            sl = slice(start, start + batch_size)
            x = torch.as_tensor(flux[sl], device=dev)
            e = torch.as_tensor(extra[sl], device=dev) if extra.shape[1] else None
            for m, (module, net) in enumerate(zip(est.members_, nets, strict=True)):
                xs = module.flux_scaler(x)
                if m == 0:  # the first member's features, for the OOD score
                    y, h = _with_features(net, xs, e)
                    features[sl] = h.double().cpu().numpy()
                else:
                    y = net(xs, e)
                y = module.censor_outputs(xs, y).double()
                out[m, sl] = module.label_scaler.inverse(y[:, :n_lab]).cpu().numpy()
                if var is not None:
                    scale = module.label_scaler.scale.double() ** 2
                    log_var = y[:, n_lab:].clamp(-30.0, 30.0)
                    var[m, sl] = (torch.exp(log_var) * scale).cpu().numpy()
    out[:, dead] = np.nan
    features[dead] = np.nan
    if var is not None:
        var[:, dead] = np.nan
    return out, var, features


def inference_net(module: torch.nn.Module, dev: torch.device) -> Any:
    """The member's network for prediction: on CPU its banded-matrix twin (faster)."""
    if dev.type != "cpu":
        return module.net
    return BandedConvRegressor(module.net.eval())


def extra_inputs(names: Sequence[str], spectra: Spectra) -> np.ndarray:
    """The ``/extra`` inputs ``names`` of a hybrid CNN, ``(n_spectra, len(names))``."""
    missing = [n for n in names if n not in spectra.extra]
    if missing:
        raise StarlabelInputError(
            f"the model needs extra inputs {missing}; the data has {sorted(spectra.extra)}"
        )
    if not names:
        return np.zeros((spectra.n_spectra, 0), dtype=np.float32)
    return np.stack([spectra.extra[n] for n in names], axis=1).astype(np.float32)


def batch_tensors(
    spectra: Spectra,
    names: Sequence[str],
    extra_names: Sequence[str],
    device: torch.device,
) -> list[torch.Tensor]:
    """A CNN's training tensors: flux, extra inputs, labels (0 where unknown),
    their mask, the noise and the S/N."""
    flux, _ = dense_flux(spectra)
    y = spectra.label_array(names)
    mask = np.isfinite(y)
    sigma, snr = noise_tensors(spectra, device)
    return [
        torch.as_tensor(flux, device=device),
        torch.as_tensor(extra_inputs(extra_names, spectra), device=device),
        torch.as_tensor(np.where(mask, y, 0.0), dtype=torch.float32, device=device),
        torch.as_tensor(mask, device=device),
        sigma,
        snr,
    ]
