"""Signal-to-noise of spectra from their flux alone (DER_SNR)."""

from __future__ import annotations

import numpy as np

from .._typing import ArrayLike

__all__ = ["der_snr"]


def der_snr(flux: ArrayLike) -> np.ndarray:
    """S/N per spectrum from the flux alone (DER_SNR, Stoehr et al. 2008).

    Uses ``median(flux) / (1.482602 / sqrt(6) * median|2 f_i - f_{i-2} - f_{i+2}|)``
    over finite pixels, a robust estimate when no inverse variance is known.

    Args:
        flux: ``(n_spectra, n_pixels)`` or ``(n_pixels,)``.

    Returns:
        ``(n_spectra,)`` S/N per pixel (NaN where fewer than 5 finite pixels).

    References:
        Stoehr et al. 2008, ASP Conf. Ser. 394, 505.
    """
    f = np.atleast_2d(np.asarray(flux, dtype=float))
    out = np.full(f.shape[0], np.nan)
    for i, row in enumerate(f):
        row = row[np.isfinite(row)]
        if row.size < 5:
            continue
        noise = (
            1.482602
            / np.sqrt(6.0)
            * np.median(np.abs(2 * row[2:-2] - row[:-4] - row[4:]))
        )
        signal = np.median(row)
        out[i] = signal / noise if noise > 0 else np.inf
    return out
