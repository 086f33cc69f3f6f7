"""Wavelength media (air, vacuum) and the Doppler shift to the rest frame."""

from __future__ import annotations

import numpy as np

__all__ = [
    "SPEED_OF_LIGHT_KMS",
    "air_to_vacuum",
    "vacuum_to_air",
    "doppler_factor",
    "shift_to_rest",
]

SPEED_OF_LIGHT_KMS = 299792.458


def _refractive_index_vacuum(wl_vac: np.ndarray) -> np.ndarray:
    # Morton (2000, ApJS 130, 403) / Ciddor (1996) formula, as used by VALD:
    # n = 1 + 8.34254e-5 + 2.406147e-2 / (130 - s^2) + 1.5998e-4 / (38.9 - s^2),
    # s = 1e4 / lambda_vac [Angstrom].
    s2 = (1e4 / np.asarray(wl_vac, dtype=np.float64)) ** 2
    return 1.0 + 8.34254e-5 + 2.406147e-2 / (130.0 - s2) + 1.5998e-4 / (38.9 - s2)


def vacuum_to_air(wavelength: np.ndarray) -> np.ndarray:
    """Air wavelengths (Angstrom) from vacuum ones (Morton 2000 / Ciddor 1996).

    Example:
        >>> round(float(vacuum_to_air(np.array([8544.44]))[0]), 2)
        8542.09
    """
    wl = np.asarray(wavelength, dtype=np.float64)
    return wl / _refractive_index_vacuum(wl)


def air_to_vacuum(wavelength: np.ndarray) -> np.ndarray:
    """Vacuum wavelengths (Angstrom) from air ones (fixed-point inverse of ``vacuum_to_air``)."""
    air = np.asarray(wavelength, dtype=np.float64)
    vac = air.copy()
    for _ in range(6):  # converges to < 1e-10 A in 3-4 steps
        vac = air * _refractive_index_vacuum(vac)
    return vac


def doppler_factor(rv_kms: float | np.ndarray) -> np.ndarray:
    """Relativistic Doppler factor ``lambda_obs / lambda_rest`` for a radial velocity."""
    beta = np.asarray(rv_kms, dtype=np.float64) / SPEED_OF_LIGHT_KMS
    return np.sqrt((1.0 + beta) / (1.0 - beta))


def shift_to_rest(wavelength: np.ndarray, rv_kms: float) -> np.ndarray:
    """Rest-frame wavelengths of a spectrum observed with radial velocity ``rv_kms``."""
    return np.asarray(wavelength, dtype=np.float64) / doppler_factor(rv_kms)
