"""A quadratic model of flux in the labels, The Cannon's form (Ness et al. 2015):
``f = theta . [1, y, y (x) y]`` per pixel, ``y`` the standardised labels, least
squares per pixel over the stars where that pixel is usable. Used for each
abundance's own-lines bound (``models.line_sensitivity``) and for the spectrum
check of every catalogue (``models.spectrum_check``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["scaled", "scaling_from_manifest", "scaling_manifest", "standardisation"]


def _features(y: np.ndarray) -> np.ndarray:
    """``[1, y, y_i y_j (i <= j)]`` per row."""
    n, d = y.shape
    i, j = np.triu_indices(d)
    return np.hstack([np.ones((n, 1)), y, y[:, i] * y[:, j]])


def _feature_derivative(y: np.ndarray, a: int) -> np.ndarray:
    """d features / d y_a per row (same columns as :func:`_features`)."""
    n, d = y.shape
    i, j = np.triu_indices(d)
    lin = np.zeros((n, d))
    lin[:, a] = 1.0
    quad = (i == a) * y[:, j] + (j == a) * y[:, i]
    return np.hstack([np.zeros((n, 1)), lin, quad])


def _ridge(phi: np.ndarray) -> np.ndarray:
    """The tiny ridge that keeps the normal matrix invertible."""
    return 1e-8 * len(phi) * np.eye(phi.shape[1])


def _solve(phi: np.ndarray, flux: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """Least-squares coefficients (P, K) per pixel over its usable rows."""
    ridge = _ridge(phi)
    theta = np.empty((flux.shape[1], phi.shape[1]))
    full = usable.all(axis=0)
    if full.any():
        a = phi.T @ phi + ridge
        theta[full] = np.linalg.solve(a, phi.T @ flux[:, full]).T
    for p in np.flatnonzero(~full):
        rows = usable[:, p]
        a = phi[rows].T @ phi[rows] + ridge
        theta[p] = np.linalg.solve(a, phi[rows].T @ flux[rows, p])
    return theta


def standardisation(y: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The rows of ``y`` standardised, and the scaling a quadratic model keeps:
    ``mean``, ``std`` (1 where constant) and the standardised ``low`` / ``high``."""
    mean = y.mean(axis=0)
    std = y.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    z = (y - mean) / std
    return z, {"mean": mean, "std": std, "low": z.min(axis=0), "high": z.max(axis=0)}


def scaled(model: Any, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(y, dead)``: ``labels`` standardised with a quadratic model's scaling and
    clipped to its training range, and the rows with a NaN label (0 there)."""
    y = (np.asarray(labels, float) - model.mean) / model.std
    dead = ~np.isfinite(y).all(axis=1)
    return np.clip(np.nan_to_num(y), model.low, model.high), dead


_SCALING = ("mean", "std", "low", "high")


def scaling_manifest(model: Any) -> dict[str, Any]:
    """``model.json`` entry of a quadratic model's labels and their standardisation
    (``label_names``, ``mean``, ``std`` and the standardised ``low`` / ``high``)."""
    return {"labels": list(model.label_names)} | {
        k: getattr(model, k).tolist() for k in _SCALING
    }


def scaling_from_manifest(entry: dict[str, Any]) -> dict[str, Any]:
    """The constructor arguments :func:`scaling_manifest` wrote."""
    return {"label_names": tuple(entry["labels"])} | {
        k: np.asarray(entry[k], float) for k in _SCALING
    }
