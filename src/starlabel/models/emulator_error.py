"""How the emulator's error per pixel is measured on the validation stars (the
network that carries it is :class:`starlabel.nn.emulator_network.EmulatorNetwork`)."""

from __future__ import annotations

import warnings

import numpy as np


def emulator_error(
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
