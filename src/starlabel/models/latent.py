"""Regressors from a latent space (or any feature matrix) to labels.

scikit-learn's ``MLPRegressor`` fits them (the GANDALF paper's choice: 200 -> 100
ReLU units); the fitted weights are kept as plain arrays so that a model directory
stores them in safetensors (never pickle) and prediction is a small numpy forward pass.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["DenseRegressor", "fit_dense_regressor", "r2_per_label"]


@dataclass(frozen=True)
class DenseRegressor:
    """A fitted ReLU MLP with input and output standardisation.

    Attributes:
        weights, biases: per layer, ``(n_in, n_out)`` and ``(n_out,)``.
        x_mean, x_scale: input standardisation.
        y_mean, y_scale: output standardisation (labels in their units).
        fit_seconds: wall time of the fit.
    """

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    x_mean: np.ndarray
    x_scale: np.ndarray
    y_mean: np.ndarray
    y_scale: np.ndarray
    fit_seconds: float = 0.0

    def predict(self, x: np.ndarray) -> np.ndarray:
        """``(n, n_in)`` -> ``(n, n_out)`` in the labels' units."""
        h = (np.asarray(x, dtype=np.float64) - self.x_mean) / self.x_scale
        for k, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = h @ w + b
            if k < len(self.weights) - 1:
                np.maximum(h, 0.0, out=h)
        return h * self.y_scale + self.y_mean

    def to_arrays(self, prefix: str = "") -> dict[str, np.ndarray]:
        """Flat name -> array mapping for a safetensors file."""
        out = {
            f"{prefix}x_mean": self.x_mean,
            f"{prefix}x_scale": self.x_scale,
            f"{prefix}y_mean": self.y_mean,
            f"{prefix}y_scale": self.y_scale,
        }
        for k, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            out[f"{prefix}w{k}"], out[f"{prefix}b{k}"] = w, b
        return out

    @classmethod
    def from_arrays(
        cls, arrays: dict[str, np.ndarray], prefix: str = ""
    ) -> DenseRegressor:
        n = sum(1 for k in arrays if k.startswith(f"{prefix}w"))
        if n == 0:
            raise KeyError(f"no layers named {prefix}w0, {prefix}w1, ...")
        return cls(
            tuple(np.asarray(arrays[f"{prefix}w{k}"], np.float64) for k in range(n)),
            tuple(np.asarray(arrays[f"{prefix}b{k}"], np.float64) for k in range(n)),
            *(
                np.asarray(arrays[f"{prefix}{name}"], np.float64)
                for name in ("x_mean", "x_scale", "y_mean", "y_scale")
            ),
        )


def _scale(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = a.mean(axis=0)
    return mean, np.where(a.std(axis=0) > 1e-12, a.std(axis=0), 1.0)


def fit_dense_regressor(
    x: np.ndarray,
    y: np.ndarray,
    *,
    hidden: Sequence[int] = (200, 100),
    max_iter: int = 200,
    seed: int = 0,
) -> DenseRegressor:
    """Fit an MLP from features ``x (n, d)`` to labels ``y (n, k)`` (finite rows only).

    Adam, early stopping on a 10 % validation share (scikit-learn's), inputs and
    outputs standardised. Stopping at ``max_iter`` without convergence is expected for
    short fits and not reported as a warning.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(len(x), -1)
    ok = np.isfinite(x).all(axis=1) & np.isfinite(y).all(axis=1)
    if ok.sum() < 20:
        raise ValueError(f"too few stars with finite features and labels ({ok.sum()})")
    x, y = x[ok], y[ok]
    (xm, xs), (ym, ys) = _scale(x), _scale(y)
    reg = MLPRegressor(
        hidden_layer_sizes=tuple(hidden),
        early_stopping=True,
        max_iter=max_iter,
        random_state=seed,
    )
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        target = (y - ym) / ys
        reg.fit((x - xm) / xs, target[:, 0] if target.shape[1] == 1 else target)
    seconds = time.perf_counter() - t0
    return DenseRegressor(
        tuple(np.asarray(w) for w in reg.coefs_),
        tuple(np.asarray(b) for b in reg.intercepts_),
        xm,
        xs,
        ym,
        ys,
        seconds,
    )


def r2_per_label(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Coefficient of determination per column, 1 - SS_res / SS_tot (finite rows)."""
    y_true = np.asarray(y_true, dtype=np.float64).reshape(len(y_true), -1)
    y_pred = np.asarray(y_pred, dtype=np.float64).reshape(y_true.shape)
    out = np.full(y_true.shape[1], np.nan)
    for k in range(y_true.shape[1]):
        ok = np.isfinite(y_true[:, k]) & np.isfinite(y_pred[:, k])
        if ok.sum() >= 2:
            t, p = y_true[ok, k], y_pred[ok, k]
            out[k] = 1.0 - np.sum((t - p) ** 2) / max(
                np.sum((t - t.mean()) ** 2), 1e-300
            )
    return out
