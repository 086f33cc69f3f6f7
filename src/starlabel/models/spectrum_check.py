"""Does the spectrum look like a training spectrum with the labels we gave it?

A network returns labels for any input: a spectrum from another spectral model
(the synthetic-to-observed gap), with a wrong continuum or a line the training
set never had gets labels and errors as confident as any other, and on the
issue-29 benchmark the CNN's OOD score flagged 1 % of such stars. This module
gives every catalogue a spectrum-level goodness of fit that needs no emulator:
at fit time a quadratic model of the training flux in all the labels (The
Cannon's form, ``models.quadratic_flux``) over every pixel, with each pixel's
intrinsic scatter ``s_p^2`` (the residual variance of the training stars beyond
their noise); at predict time

    chi2_labels = mean over usable pixels of (f - model(labels))^2 / (1/ivar + s_p^2)

(plus the fitted model's own error at those labels, ``noise_p phi^T (Phi^T Phi)^-1
phi``) at the model's predicted labels (about 1 for a training-like star whatever its
S/N; growing with S/N where the spectrum differs from every training spectrum,
or where the labels are wrong). It is a catalogue column and one of the OOD
score's signals (``models.ood``, standardised conditionally on S/N).

Saved as ``spectrum_check.safetensors`` (``theta``, ``scatter``) with
``model.json["spectrum_check"]``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from .quadratic_flux import (
    _features,
    _ridge,
    _solve,
    scaled,
    scaling_from_manifest,
    scaling_manifest,
    standardisation,
)

__all__ = ["SpectrumCheck", "fit_spectrum_check"]

#: Training stars the model is fitted on, at most (a per-pixel least squares).
MAX_STARS = 8000
#: Pixels evaluated per block at predict time.
_BLOCK = 2048


@dataclasses.dataclass(frozen=True)
class SpectrumCheck:
    """The quadratic flux model over every pixel and its intrinsic scatter."""

    label_names: tuple[str, ...]
    mean: np.ndarray  # (d,)
    std: np.ndarray  # (d,)
    low: np.ndarray  # (d,) training range, standardised
    high: np.ndarray
    theta: np.ndarray  # (P, K)
    scatter: np.ndarray  # (P,) intrinsic variance; NaN: pixel never usable
    noise_var: np.ndarray  # (P,) mean noise variance of the training stars
    cov: np.ndarray  # (K, K) (Phi^T Phi)^-1 of the training design

    def model_flux(self, labels: np.ndarray) -> np.ndarray:
        """``(n, P)`` model flux at ``labels`` ``(n, d)`` (clipped to the training
        range; NaN rows where a label is NaN)."""
        y, dead = scaled(self, labels)
        out = _features(y) @ self.theta.T
        out[dead] = np.nan
        return out

    def chi2(
        self, labels: np.ndarray, flux: np.ndarray, ivar: np.ndarray
    ) -> np.ndarray:
        """``(n,)`` reduced chi^2 of each spectrum against the model at ``labels``
        (NaN where the labels are NaN or no pixel is usable)."""
        y, dead = scaled(self, labels)
        phi = _features(y)
        # the fitted model's own error at these labels, per unit training noise
        leverage = np.einsum("nk,kl,nl->n", phi, self.cov, phi)[:, None]
        n = phi.shape[0]
        total, count = np.zeros(n), np.zeros(n)
        for start in range(0, self.theta.shape[0], _BLOCK):
            sl = slice(start, start + _BLOCK)
            f = np.asarray(flux[:, sl], float)
            iv = np.asarray(ivar[:, sl], float)
            s2 = self.scatter[sl]
            use = (iv > 0) & np.isfinite(f) & np.isfinite(s2)
            var = (
                1.0 / np.where(use, iv, 1.0)
                + np.nan_to_num(s2)
                + leverage * np.nan_to_num(self.noise_var[sl])
            )
            r = f - phi @ self.theta[sl].T
            total += np.where(use, r * r / var, 0.0).sum(axis=1)
            count += use.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = total / count
        return np.where(dead | (count == 0), np.nan, out)

    def to_manifest(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        entry = scaling_manifest(self)
        return entry, {
            "theta": self.theta.astype(np.float32),
            "scatter": self.scatter.astype(np.float32),
            "noise_var": self.noise_var.astype(np.float32),
            "cov": self.cov.astype(np.float64),
        }

    @classmethod
    def from_manifest(
        cls, entry: dict[str, Any], arrays: dict[str, np.ndarray]
    ) -> SpectrumCheck:
        return cls(
            **scaling_from_manifest(entry),
            theta=np.asarray(arrays["theta"], np.float64),
            scatter=np.asarray(arrays["scatter"], np.float64),
            noise_var=np.asarray(arrays["noise_var"], np.float64),
            cov=np.asarray(arrays["cov"], np.float64),
        )


def fit_spectrum_check(
    flux: np.ndarray,
    ivar: np.ndarray,
    labels: np.ndarray,
    label_names: Sequence[str],
    *,
    seed: int = 0,
) -> SpectrumCheck | None:
    """The quadratic flux model of the training spectra (see the module).

    Args:
        flux, ivar: (n, n_pixels) training spectra on the model's grid.
        labels: (n, d) their labels in the order of ``label_names``.

    Returns:
        None with fewer usable training stars than three times the coefficients.
    """
    y_all = np.asarray(labels, float)
    rows = np.flatnonzero(np.isfinite(y_all).all(axis=1))
    if rows.size > MAX_STARS:
        rows = np.sort(np.random.default_rng(seed).choice(rows, MAX_STARS, False))
    d = y_all.shape[1]
    if rows.size < 3 * (1 + d + d * (d + 1) // 2):
        return None
    y, scaling = standardisation(y_all[rows])
    phi = _features(y)
    n_pix = np.shape(flux)[1]
    theta = np.empty((n_pix, phi.shape[1]))
    scatter, noise_var = np.empty(n_pix), np.empty(n_pix)
    for start in range(0, n_pix, _BLOCK):  # per pixel: blocks bound the memory
        sl = slice(start, start + _BLOCK)
        theta[sl], scatter[sl], noise_var[sl] = _fit_pixels(
            phi, np.asarray(flux[rows, sl], float), np.asarray(ivar[rows, sl], float)
        )
    return SpectrumCheck(
        label_names=tuple(label_names),
        **scaling,
        theta=theta,
        scatter=scatter,
        noise_var=noise_var,
        cov=np.linalg.inv(phi.T @ phi + _ridge(phi)),
    )


def _fit_pixels(
    phi: np.ndarray, f: np.ndarray, iv: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coefficients, intrinsic scatter and mean noise variance of some pixels."""
    usable = (iv > 0) & np.isfinite(f)
    f = np.where(usable, f, 0.0)
    theta = _solve(phi, f, usable)
    resid2 = np.where(usable, (f - phi @ theta.T) ** 2, 0.0)
    noise = np.where(usable, 1.0 / np.where(usable, iv, 1.0), 0.0)
    k = usable.sum(axis=0)
    dof = np.maximum(k - phi.shape[1], 1)
    # residual variance beyond the noise (debiased for the fitted coefficients),
    # kept where it exceeds 3x its own sampling error (else 0: a pixel the model
    # describes to within the training noise; without the cut the noise of the
    # estimate passes for scatter and a star at a higher S/N than the training
    # stars gets chi2 < 1)
    kk = np.maximum(k, 1)
    with np.errstate(invalid="ignore"):
        noise_var = noise.sum(0) / kk
        scatter = (resid2.sum(0) * k / dof) / kk - noise_var
    significant = scatter > 3.0 * noise_var * np.sqrt(2.0 / kk)
    scatter = np.where(k > phi.shape[1], np.where(significant, scatter, 0.0), np.nan)
    return theta, scatter, noise_var
