"""Validation stars at every S/N a model will meet, for its error calibration and
its OOD score.

A survey trains on its best spectra and labels everything down to S/N 5-15. A
calibration map fitted on validation stars as they are (S/N 50, say) extrapolates
its S/N term below them, and on the issue-29 benchmark the CNN's errors came out
1.8-2.4x too small at S/N 5-25. So every model's calibration (and OOD scale) is
fitted on the validation stars plus a *degraded copy* of each: the copy brought
down to a log-uniform S/N between :data:`CALIBRATION_SNR_MIN` (or the model's
``augment_snr_min`` where it trains with one) and the star's own, by the rule of
the training augmentation (``training.augment.degrade_factor``: noise drawn from
the spectrum's own per-pixel sigma, its inverse variance scaled to match). What
the map has not seen it does not pretend to know: below the lowest S/N of its fit
set the catalogue flags the star (``SNR_BELOW_CALIBRATION``) and widens its error
(``models.recalibration.LabelCalibration``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..spectra.container import Spectra
from ..training.augment import degrade_factor

__all__ = [
    "CALIBRATION_SNR_MIN",
    "calibration_set",
    "coverage_snr_min",
    "degraded",
    "subset",
]

#: Lowest S/N the calibration covers unless the model trains down to another.
CALIBRATION_SNR_MIN = 5.0


def degraded(spectra: Spectra, *, snr_min: float, seed: int = 0) -> Spectra:
    """Every spectrum of ``spectra`` brought down to a log-uniform random S/N in
    [``snr_min``, its own] (those already below ``snr_min`` unchanged), with ids
    suffixed ``~degraded``.

    Example:
        >>> import astropy.units as u
        >>> from starlabel.spectra import Spectra
        >>> wave = (np.arange(50.0) + 5000) * u.AA
        >>> s = Spectra(np.ones((500, 50)), wave, np.full((500, 50), 1e4))
        >>> low = np.sqrt(degraded(s, snr_min=5.0).ivar[:, 0])  # S/N of unit flux
        >>> bool(low.min() >= 5.0 - 1e-4 and np.median(low) < 50 and low.max() <= 100)
        True
    """
    snr = spectra.snr()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        factor = degrade_factor(
            torch.as_tensor(np.nan_to_num(snr), dtype=torch.float64),
            snr_min=snr_min,
            fraction=1.0,
        ).numpy()
    rng = np.random.default_rng(seed)
    ivar = np.asarray(spectra.ivar, dtype=np.float64)
    sigma = np.where(ivar > 0, 1.0 / np.sqrt(np.where(ivar > 0, ivar, 1.0)), 0.0)
    noise = rng.standard_normal(spectra.flux.shape) * sigma * factor[:, None]
    flux = (spectra.flux + noise).astype(spectra.flux.dtype)
    new_ivar = (ivar / (1.0 + factor[:, None] ** 2)).astype(spectra.ivar.dtype)
    meta = dict(spectra.meta)
    meta["id"] = np.array([f"{i}~degraded" for i in spectra.ids])
    if "snr" in meta:
        meta["snr"] = np.asarray(meta["snr"], float) / np.sqrt(1.0 + factor**2)
    return spectra.replace(flux=flux, ivar=new_ivar, meta=meta)


def calibration_set(model: Any, valid: Spectra, max_stars: int, seed: int) -> Spectra:
    """Up to ``max_stars`` stars for ``model``'s calibration: half of them
    validation stars as they are, half their degraded copies (see the module)."""
    sub = subset(valid, max(1, max_stars // 2), seed)
    low = degraded(sub, snr_min=coverage_snr_min(model), seed=seed)
    return Spectra.concatenate([sub, low])


def subset(spectra: Spectra, n: int, seed: int) -> Spectra:
    """At most ``n`` stars of ``spectra``, drawn at random (seeded), in file order."""
    if spectra.n_spectra <= n:
        return spectra
    rows = np.random.default_rng(seed).choice(spectra.n_spectra, n, replace=False)
    return spectra[np.sort(rows)]


def coverage_snr_min(model: Any) -> float:
    """The lowest S/N ``model``'s calibration covers: its ``augment_snr_min``
    where it trains with one, else :data:`CALIBRATION_SNR_MIN`."""
    config = getattr(model, "_config", None)
    return float(getattr(config, "augment_snr_min", 0.0) or CALIBRATION_SNR_MIN)
