"""Calibration of uncertainties: expected-coverage curves and simulation-based
calibration (SBC) ranks.

For a calibrated posterior the true label is a random draw from it, so its rank among
``L`` posterior draws is uniform on ``0..L`` and a central ``p`` interval holds the
truth for a fraction ``p`` of the stars. For models that only give a value and a
standard deviation, the coverage uses Gaussian intervals ``value +- z_p sigma``.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = [
    "LEVELS",
    "sbc_ranks",
    "coverage_from_samples",
    "coverage_gaussian",
]

LEVELS = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.68, 0.7, 0.8, 0.9, 0.95])


def sbc_ranks(samples: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """``(n, L, d)`` draws and ``(n, d)`` truths -> ``(n, d)`` ranks in ``0..L``
    (number of draws below the truth); NaN truths give -1.

    Example:
        >>> sbc_ranks(np.array([[[1.0], [3.0], [2.0]]]), np.array([[2.5]]))
        array([[2]])
    """
    ranks = (samples < truth[:, None, :]).sum(axis=1)
    return np.where(np.isfinite(truth), ranks, -1)


def coverage_from_samples(
    samples: np.ndarray, truth: np.ndarray, levels: np.ndarray = LEVELS
) -> np.ndarray:
    """``(len(levels), d)`` fraction of stars whose truth lies in the central
    interval of their draws at each level."""
    out = np.empty((len(levels), samples.shape[2]))
    good = np.isfinite(truth)
    for i, p in enumerate(levels):
        lo, hi = np.quantile(samples, [(1 - p) / 2, (1 + p) / 2], axis=1)
        inside = (truth >= lo) & (truth <= hi)
        out[i] = np.where(good, inside, 0).sum(0) / np.maximum(good.sum(0), 1)
    return out


def coverage_gaussian(
    value: np.ndarray, sigma: np.ndarray, truth: np.ndarray, levels: np.ndarray = LEVELS
) -> np.ndarray:
    """Like :func:`coverage_from_samples` for Gaussian intervals ``value +- z sigma``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> truth = rng.normal(size=(20000, 1))
        >>> cov = coverage_gaussian(np.zeros((20000, 1)), np.ones((20000, 1)), truth)
        >>> bool(np.allclose(cov[:, 0], LEVELS, atol=0.01))
        True
    """
    good = np.isfinite(value) & np.isfinite(sigma) & (sigma > 0) & np.isfinite(truth)
    z = np.abs(value - truth) / np.where(good, sigma, 1.0)
    out = np.empty((len(levels), value.shape[1]))
    for i, p in enumerate(levels):
        inside = z <= stats.norm.ppf((1 + p) / 2)
        out[i] = np.where(good, inside, 0).sum(0) / np.maximum(good.sum(0), 1)
    return out
