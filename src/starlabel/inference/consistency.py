"""Cross-model consistency: two models' labels of the same stars against their
combined errors (``predict --refine`` and ``refine``: the network that started the
fit against the fit itself).

Per star, ``models_chi2`` is the reduced chi-square of the two label vectors,
``sum_k (a_k - b_k)^2 / (err_a_k^2 + err_b_k^2) / n`` over the labels both give
with finite errors. Where its sum exceeds the chi-square quantile of ``n`` degrees
of freedom at ``p = 1e-3`` the star gets ``MODELS_DISAGREE``. The two estimates
read the same noisy spectrum, so their difference scatters less than the
combined errors say: a star flagged disagrees by more than its noise can explain
(a model mismatch, a star outside one model's reach), and about 1 in 1000 ordinary
stars or fewer is flagged.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import chi2 as chi2_dist

__all__ = ["MODELS_CHI2_NOTE", "P_DISAGREE", "disagreement"]

#: The probability of a larger chi-square for two consistent models.
P_DISAGREE = 1e-3
MODELS_CHI2_NOTE = (
    "reduced chi2 of the fitted labels against the start model's, with both "
    "errors; flag 16384 where p < 0.001 (inference.consistency)"
)


def disagreement(
    a: np.ndarray, a_err: np.ndarray, b: np.ndarray, b_err: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(models_chi2, disagree)`` of two ``(n_stars, n_labels)`` label arrays.

    Labels with a NaN value or error on either side are left out of a star's sum;
    a star with none left gets NaN and is not flagged.

    Example:
        >>> r, bad = disagreement(np.array([[1.0, 0.0]]), np.ones((1, 2)),
        ...                       np.array([[1.0, 8.0]]), np.ones((1, 2)))
        >>> round(float(r[0]), 1), bool(bad[0])
        (16.0, True)
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        z2 = (np.asarray(a) - np.asarray(b)) ** 2 / (
            np.asarray(a_err) ** 2 + np.asarray(b_err) ** 2
        )
    use = np.isfinite(z2)
    n = use.sum(axis=1)
    total = np.where(use, z2, 0.0).sum(axis=1)
    reduced = np.where(n > 0, total / np.maximum(n, 1), np.nan)
    limit = chi2_dist.isf(P_DISAGREE, np.maximum(n, 1))
    return reduced, (n > 0) & (total > limit)
