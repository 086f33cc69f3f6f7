"""The cINN's computations beyond its network: the conditioning features, the
maximum-likelihood loss and posterior draws."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from ..nn.cinn_network import CINNNetwork
from ..training.augment import augment_batch
from .cinn_config import CINNConfig


def condition(module: CINNNetwork, flux: torch.Tensor) -> list[torch.Tensor]:
    """The conditioning network's outputs for ``flux`` as observed."""
    return module.condition(flux)


def nll_loss(cfg: CINNConfig) -> Callable:
    """Per-star negative log-likelihood per label: (|z|^2 / 2 - log|det J|) / n_labels;
    in training, label noise and the S/N augmentation."""
    label_noise = cfg.label_noise

    def loss(module: torch.nn.Module, batch: Sequence[torch.Tensor]) -> torch.Tensor:
        flux, y, sigma, snr = batch
        if module.training:
            flux = augment_batch(cfg, flux, sigma, snr)
        x = module.label_scaler(y)
        if module.training and label_noise > 0:
            x = x + label_noise * torch.randn_like(x)
        z, logdet = module.inn(x, module.inn.project(condition(module, flux)))
        return (0.5 * (z * z).sum(-1) - logdet) / x.shape[-1]

    return loss


@torch.inference_mode()
def draw_posterior(
    m: torch.nn.Module,
    flux: torch.Tensor,
    n_draws: int,
    n_labels: int,
    generator: torch.Generator,
) -> torch.Tensor:
    """``(n, n_pixels)`` flux tensor -> ``(n, n_draws, n_labels)`` posterior draws
    of the cINN ``m``, in the labels' units."""
    parts = [condition(m, flux[i : i + 64]) for i in range(0, flux.shape[0], 64)]
    conds = [torch.cat(c) for c in zip(*parts, strict=True)]
    proj = m.inn.project([c.unsqueeze(1) for c in conds])
    z = torch.randn(flux.shape[0], n_draws, n_labels, generator=generator).to(
        flux.device
    )
    step = max(1, 4096 // n_draws)  # ~4096 pairs at a time: 8 MB activations
    out = torch.cat(
        [
            m.inn.inverse(
                z[i : i + step],
                [(a[i : i + step], b[i : i + step]) for a, b in proj],
            )
            for i in range(0, z.shape[0], step)
        ]
    )
    return m.label_scaler.inverse(out)


def build_module(c: CINNConfig, n_labels: int, n_pixels: int, seed: int) -> CINNNetwork:
    """A new cINN network (its weight files use the names of :class:`CINNNetwork`)."""
    return CINNNetwork(
        n_labels,
        n_pixels,
        c.cond_dims,
        standardize_flux=c.standardize_flux,
        cond=dict(
            channels=c.channels,
            kernel_size=c.kernel_size,
            pool=c.pool,
            stage_hidden=c.stage_hidden,
            dense=c.dense,
            dropout=c.dropout,
        ),
        inn=dict(
            hidden=c.hidden,
            depth=c.depth,
            clamp=c.clamp,
            init_std=c.init_std,
            seed=seed,
        ),
    )
