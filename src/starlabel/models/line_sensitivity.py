"""How well a spectrum's own lines can measure each abundance.

A network trained on a population whose abundances are correlated returns an
abundance with a small error even where its element's lines say nothing (a weak
line in a hot dwarf, a line in a masked region): it reads the population. This
module gives, per star and abundance, the Cramer-Rao bound of its element's own
lines, so that such a value can be called a prior.

At fit time, in the windows of each abundance's element (``models.censor``), the
training flux is modelled as a quadratic in the standardised labels (The Cannon's
form, Ness et al. 2015: ``f = theta . [1, y, y (x) y]``; least squares per pixel over
the usable pixels). At predict time, with the model's spectrum check (the same
quadratic over every pixel, ``models.spectrum_check``), :meth:`LineSensitivity.bound`
is the *marginal* bound: the Fisher matrix

    F = sum over pixels of J_p^T J_p ivar_p,   J_p = d model flux_p / d labels,

with each abundance's column kept only in its own element's windows (an abundance
may be measured only by its own lines) and every other label's (Teff, log g,
[Fe/H], ...) over all pixels, inverted: sigma_own = sqrt((F^-1)_aa), what the own
lines give once the other labels are estimated from the same spectrum (on Gaia RVS
the Ca triplet carries log g too: there the bound with log g known is 0.2-0.7 of
the marginal one). Without a spectrum check (directories saved before it) the
bound is the conditional one of the own windows alone, ``(sum (df/dx)^2
ivar)^(-1/2)`` (other labels known: optimistic). In both, the products of
derivatives are debiased by their estimation variance (``g g^T - cov g``; the
matrix then projected onto the positive semi-definite ones): the noise of the
training flux, and labels so correlated in training that the regression cannot
tell their effects apart, would otherwise pass for sensitivity.
``models.reliability`` turns it into the ``OWN_LINES_WEAK`` flag and a floor on
``_err``.

Saved in the model directory as ``line_sensitivity.safetensors`` (``theta``,
``pixels``) with ``model.json["line_sensitivity"]`` (labels, their pixel ranges,
the standardisation).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from .censor import censored_element, window_mask
from .quadratic_flux import (
    _feature_derivative,
    _features,
    _ridge,
    _solve,
    scaled,
    scaling_from_manifest,
    scaling_manifest,
    standardisation,
)
from .spectrum_check import SpectrumCheck

__all__ = ["LineSensitivity", "fit_line_sensitivity"]

#: Training stars the quadratic is fitted on, at most.
MAX_STARS = 8000
#: Pixels of the spectrum check evaluated per block for the marginal bound.
_BLOCK = 1024
#: The prior added to the Fisher matrix (standardised labels) so that it inverts
#: (1000 training spreads); a bound above 100 spreads is reported as inf.
_FLAT = 1e-6


@dataclasses.dataclass(frozen=True)
class LineSensitivity:
    """The quadratic flux model in each abundance's own windows."""

    label_names: tuple[str, ...]
    mean: np.ndarray  # (d,) training mean of every label
    std: np.ndarray  # (d,)
    low: np.ndarray  # (d,) training range, standardised
    high: np.ndarray
    pixels: np.ndarray  # (P,) grid pixels of all windows, by abundance
    theta: np.ndarray  # (P, K) quadratic coefficients per pixel
    resid_var: np.ndarray  # (P,) residual variance of the fit per pixel
    cov: np.ndarray  # (K, K) (Phi^T Phi)^-1 of the training design
    spans: dict[str, tuple[int, int]]  # abundance -> its rows of pixels / theta

    def bound(
        self, labels: np.ndarray, ivar: np.ndarray, check: SpectrumCheck | None
    ) -> dict[str, np.ndarray]:
        """Per abundance, ``sigma_own`` of every star: marginal with a spectrum
        check in the same labels, else conditional (see the module)."""
        if check is None or tuple(check.label_names) != self.label_names:
            return self.own_bound(labels, ivar)
        return self.marginal_bound(labels, ivar, check)

    def marginal_bound(
        self, labels: np.ndarray, ivar: np.ndarray, check: SpectrumCheck
    ) -> dict[str, np.ndarray]:
        """Per abundance, the bound of its own lines with every other label
        estimated from the same spectrum (label units; inf where its lines carry
        no information, NaN where the labels are NaN).

        Args:
            labels: (n, d) predicted labels in the order of ``label_names``.
            ivar: (n, n_pixels) inverse variance on the model's grid.
            check: the spectrum check (the quadratic over every pixel) in the
                same labels.
        """
        d = len(self.label_names)
        y, dead = scaled(check, labels)
        n, n_pix = y.shape[0], check.theta.shape[0]
        deriv = np.stack([_feature_derivative(y, a) for a in range(d)], axis=1)
        columns = self._columns(n_pix)
        live = np.isfinite(check.scatter)
        resid_var = check.noise_var + np.nan_to_num(check.scatter)
        # which pairs of labels a pixel measures together: (n_pix, d * d)
        pairs = (columns[:, :, None] & columns[:, None, :]).reshape(n_pix, -1)
        fisher = np.zeros((n, d, d))
        noise = np.zeros((n, d * d))
        ivar = np.asarray(ivar)
        for start in range(0, n_pix, _BLOCK):
            sl = slice(start, start + _BLOCK)
            iv = np.asarray(ivar[:, sl], float)
            w = np.where(live[sl] & (iv > 0), iv, 0.0)
            jac = (deriv.reshape(n * d, -1) @ check.theta[sl].T).reshape(n, d, -1)
            jac *= columns[sl].T
            fisher += (jac * w[:, None, :]) @ jac.transpose(0, 2, 1)
            noise += (w * resid_var[sl]) @ pairs[sl]
        # E[g g^T] = g_true g_true^T + resid_var * D cov D^T per pixel
        fisher -= noise.reshape(n, d, d) * (
            deriv @ check.cov @ deriv.transpose(0, 2, 1)
        )
        lam, vec = np.linalg.eigh(fisher)
        lam = np.fmax(lam, 0.0) + _FLAT
        var = np.einsum("nak,nk->na", vec**2, 1.0 / lam)
        out = {}
        for name in self.spans:
            a = self.label_names.index(name)
            bound = np.sqrt(var[:, a]) * check.std[a]
            bound = np.where(var[:, a] * _FLAT > 1e-2, np.inf, bound)
            out[name] = np.where(dead, np.nan, bound)
        return out

    def _columns(self, n_pix: int) -> np.ndarray:
        """(n_pix, d): which labels a pixel may measure (every label everywhere but
        an abundance, only in its own windows)."""
        columns = np.ones((n_pix, len(self.label_names)), bool)
        for a, name in enumerate(self.label_names):
            if censored_element(name) is not None:
                columns[:, a] = False
        for name, (start, stop) in self.spans.items():
            columns[self.pixels[start:stop], self.label_names.index(name)] = True
        return columns

    def own_bound(self, labels: np.ndarray, ivar: np.ndarray) -> dict[str, np.ndarray]:
        """Per abundance, the conditional ``sigma_own`` of every star: its own
        windows alone, the other labels known (label units; inf where its lines
        carry no information, NaN where the labels are NaN).

        Args:
            labels: (n, d) predicted labels in the order of ``label_names``.
            ivar: (n, n_pixels) inverse variance on the model's grid.
        """
        y, dead = scaled(self, labels)
        out = {}
        for name, (start, stop) in self.spans.items():
            a = self.label_names.index(name)
            jac = _feature_derivative(y, a)
            slope = jac @ self.theta[start:stop].T
            spread = np.einsum("nk,kl,nl->n", jac, self.cov, jac)[:, None]
            g2 = slope**2 - spread * self.resid_var[start:stop]
            w = np.asarray(ivar)[:, self.pixels[start:stop]]
            info = np.sum(np.where(w > 0, g2 * w, 0.0), axis=1) / self.std[a] ** 2
            info = np.fmax(info, 0.0)
            with np.errstate(divide="ignore"):
                bound = 1.0 / np.sqrt(info)
            out[name] = np.where(dead, np.nan, bound)
        return out

    def to_manifest(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        entry = scaling_manifest(self) | {
            "spans": {k: list(v) for k, v in self.spans.items()}
        }
        return entry, {
            "theta": self.theta.astype(np.float32),
            "resid_var": self.resid_var.astype(np.float32),
            "cov": self.cov.astype(np.float64),
            "pixels": self.pixels.astype(np.int64),
        }

    @classmethod
    def from_manifest(cls, entry: dict[str, Any], arrays: dict[str, np.ndarray]):
        return cls(
            **scaling_from_manifest(entry),
            pixels=np.asarray(arrays["pixels"], np.int64),
            theta=np.asarray(arrays["theta"], np.float64),
            resid_var=np.asarray(arrays["resid_var"], np.float64),
            cov=np.asarray(arrays["cov"], np.float64),
            spans={k: (int(v[0]), int(v[1])) for k, v in entry["spans"].items()},
        )


def fit_line_sensitivity(
    wavelength: np.ndarray,
    flux: np.ndarray,
    ivar: np.ndarray,
    labels: np.ndarray,
    label_names: Sequence[str],
    *,
    medium: str = "air",
    seed: int = 0,
) -> LineSensitivity | None:
    """The quadratic model of the training flux in every abundance's windows.

    Args:
        wavelength: the model's grid (Angstrom).
        flux, ivar: (n, n_pixels) training spectra.
        labels: (n, d) their labels in the order of ``label_names``.

    Returns:
        None where no abundance has a line on the grid, or there are fewer usable
        training stars than three times the coefficients.
    """
    names = list(label_names)
    y_all = np.asarray(labels, float)
    ok = np.isfinite(y_all).all(axis=1)
    rows = np.flatnonzero(ok)
    if rows.size > MAX_STARS:
        rows = np.sort(np.random.default_rng(seed).choice(rows, MAX_STARS, False))
    wl = np.asarray(wavelength, float)
    windows = {}
    for name in names:
        element = censored_element(name)
        if element is None:
            continue
        mask = window_mask(wl, element, medium=medium, wings=True)
        if mask.any():
            windows[name] = np.flatnonzero(mask)
    d = len(names)
    n_coef = 1 + d + d * (d + 1) // 2
    if not windows or rows.size < 3 * n_coef:
        return None
    y, scaling = standardisation(y_all[rows])
    phi = _features(y)
    pixels = np.concatenate(list(windows.values()))
    f = np.asarray(np.asarray(flux)[np.ix_(rows, pixels)], float)
    usable = (np.asarray(ivar)[np.ix_(rows, pixels)] > 0) & np.isfinite(f)
    f = np.where(usable, f, 0.0)
    theta = _solve(phi, f, usable)
    resid = np.where(usable, f - phi @ theta.T, 0.0)
    dof = np.maximum(usable.sum(axis=0) - phi.shape[1], 1)
    resid_var = np.sum(resid**2, axis=0) / dof
    cov = np.linalg.inv(phi.T @ phi + _ridge(phi))
    spans, start = {}, 0
    for name, pix in windows.items():
        spans[name] = (start, start + pix.size)
        start += pix.size
    return LineSensitivity(
        label_names=tuple(names),
        **scaling,
        pixels=pixels,
        theta=theta,
        resid_var=resid_var,
        cov=cov,
        spans=spans,
    )


def predictable_abundances(
    labels: np.ndarray, label_names: Sequence[str]
) -> dict[str, float]:
    """Per abundance, the share of its training variance a linear fit on the other
    labels explains (R^2): what a model can learn from the other labels' lines
    instead of its element's own (the Galactic population: [Mg/Fe] 0.97 with
    [Fe/H] and the other alpha elements). Rows with a missing label are left out."""
    y = np.asarray(labels, float)
    y = y[np.isfinite(y).all(axis=1)]
    out: dict[str, float] = {}
    if y.shape[1] < 2 or len(y) < y.shape[1] + 10:
        return out
    for k, name in enumerate(label_names):
        if censored_element(name) is None or not np.var(y[:, k]) > 0:
            continue
        x = np.column_stack([np.ones(len(y)), np.delete(y, k, axis=1)])
        coef, *_ = np.linalg.lstsq(x, y[:, k], rcond=None)
        out[name] = float(1.0 - np.var(y[:, k] - x @ coef) / np.var(y[:, k]))
    return out
