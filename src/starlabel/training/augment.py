"""Noise augmentation that teaches a network the noise of the stars it will label.

Surveys train on their best spectra and label everything down to S/N 5-15; a
network that never saw noisy inputs is biased there. :func:`degrade_snr` lowers a
random share of each training batch to a random S/N between ``snr_min`` and the
spectrum's own, by adding Gaussian noise drawn from the spectrum's own per-pixel
sigma: a spectrum at S/N ``s`` with sigma ``sigma_p`` becomes one at S/N ``t``
with added sigma ``sigma_p sqrt((s/t)^2 - 1)`` (the noise pattern of the
instrument, scaled). The target S/N is log-uniform, so low S/N is as well covered
as high. Spectra already below ``snr_min`` are left as they are.
"""

from __future__ import annotations

import torch

__all__ = ["augment_batch", "check_augment", "degrade_factor", "degrade_snr"]


def degrade_snr(
    flux: torch.Tensor,
    sigma: torch.Tensor,
    snr: torch.Tensor,
    *,
    snr_min: float,
    fraction: float = 0.5,
) -> torch.Tensor:
    """``flux`` (n, p) with ``fraction`` of the spectra brought down to a random S/N.

    Args:
        flux: observed flux (masked pixels already filled).
        sigma: its 1-sigma per pixel (0 where masked: no noise is added there).
        snr: ``(n,)`` S/N of each spectrum.
        snr_min: lowest target S/N.
        fraction: share of the spectra degraded (each independently).

    Example:
        >>> g = torch.manual_seed(0)
        >>> f, s = torch.ones(20000, 4), torch.full((20000, 4), 0.01)
        >>> out = degrade_snr(f, s, torch.full((20000,), 100.0), snr_min=10.0, fraction=1.0)
        >>> bool((out - f).std() > 0.01)
        True
    """
    extra = degrade_factor(snr, snr_min=snr_min, fraction=fraction).to(flux.dtype)
    if not bool((extra > 0).any()):
        return flux
    return flux + torch.randn_like(flux) * sigma * extra[:, None]


def degrade_factor(
    snr: torch.Tensor, *, snr_min: float, fraction: float = 0.5
) -> torch.Tensor:
    """``(n,)`` added sigma over the spectrum's own, ``sqrt((s/t)^2 - 1)``, of the
    rule of :func:`degrade_snr` (0 for a spectrum left as it is): ``fraction`` of
    the spectra above ``snr_min`` get a log-uniform target ``t`` in
    [``snr_min``, own]. The inverse variance of a degraded spectrum is its own
    divided by ``1 + factor^2``."""
    n = snr.shape[0]
    own = torch.nan_to_num(snr, nan=0.0)
    room = own > snr_min
    pick = room & (torch.rand(n, device=snr.device) < fraction)
    # log-uniform target between snr_min and the spectrum's own S/N
    lo = torch.log(torch.tensor(snr_min, dtype=own.dtype, device=snr.device))
    hi = torch.log(own.clamp_min(snr_min))
    target = torch.exp(lo + (hi - lo) * torch.rand(n, device=snr.device))
    ratio = (own / target).clamp_min(1.0)
    return torch.sqrt(ratio**2 - 1.0) * pick.to(own.dtype)


def check_augment(snr_min: float, fraction: float) -> None:
    """Validate the augmentation settings of a config (``ValueError`` naming them)."""
    if snr_min < 0:
        raise ValueError(f"augment_snr_min: expected >= 0 (0: off), got {snr_min}")
    if not 0 < fraction <= 1:
        raise ValueError(f"augment_fraction: expected (0, 1], got {fraction}")


def augment_batch(
    config: object, flux: torch.Tensor, sigma: torch.Tensor, snr: torch.Tensor
) -> torch.Tensor:
    """:func:`degrade_snr` with a model config's ``augment_snr_min`` and
    ``augment_fraction`` (``flux`` unchanged when ``augment_snr_min`` is 0)."""
    snr_min = float(getattr(config, "augment_snr_min", 0.0))
    if snr_min <= 0:
        return flux
    return degrade_snr(
        flux, sigma, snr, snr_min=snr_min, fraction=float(config.augment_fraction)
    )
