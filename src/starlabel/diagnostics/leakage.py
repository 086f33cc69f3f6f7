"""Does an abundance follow its own element, or the labels it is correlated with?

For each abundance ``a`` the prediction is regressed on every true label at once
(least squares with an intercept)::

    pred_a = c + sum_j beta_j truth_j + noise

``beta_a`` (the **slope** on its own truth, dex per dex) is what a change of the
star's own abundance does to the prediction with the other labels held fixed; the
**leak** is the largest ``|beta_j|`` of another label in standardised units
(``beta_j * std(truth_j) / std(truth_a)``: 1 means the prediction moves with the
other label as much as it should with its own). On a test set whose abundances
are drawn independently (``synth --population decorrelated``) these separate what
the spectrum says from what the training population's correlations say.

A slope of 1 is not reachable with noise: an estimator that weighs the spectrum
against the training spread ``sigma_a`` of the label, with per-star errors at
the Cramer-Rao bound ``c``, has the slope ``sigma_a^2 / (sigma_a^2 + c^2)`` (the
**allowed** slope, ``c`` the rms bound of the stars). A slope under half the
allowed one says the label returns the population's prior, not a measurement; an
allowed slope under 0.5 says the spectra cannot measure the label at all.

Uncertainties are the least-squares standard errors (residual variance times
``(X^T X)^-1``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["PRIOR_FRACTION", "Leakage", "is_abundance", "leakage"]

#: a slope under this fraction of the allowed one marks the label as a prior.
PRIOR_FRACTION = 0.5


def is_abundance(name: str) -> bool:
    """``[X/Fe]`` (``*_fe``) and ``A(X)`` (``a_*``) labels; [Fe/H] is not one here
    (it is what the spectrum's many lines measure together)."""
    return name.endswith("_fe") or name.startswith("a_")


@dataclass(frozen=True)
class Leakage:
    """One abundance's response to its own truth and to the other labels'.

    Attributes:
        name: the abundance.
        slope, slope_err: d prediction / d own truth, others fixed (dex / dex).
        leak_label: the other label whose truth moves the prediction most.
        leak, leak_err: its slope in standardised units (own spread per its spread).
        allowed: the slope an estimator at the Cramer-Rao bound reaches
            (NaN without bounds).
        n: stars used.
    """

    name: str
    slope: float
    slope_err: float
    leak_label: str
    leak: float
    leak_err: float
    allowed: float
    n: int

    @property
    def verdict(self) -> str:
        """``measurement``, ``prior`` (slope < half the allowed one),
        ``beyond the bound`` (the bound itself allows a slope under 0.5: these
        spectra cannot measure the label, whatever the model) or ``not assessed``
        (no bound)."""
        if not np.isfinite(self.allowed) or not np.isfinite(self.slope):
            return "not assessed"
        if self.allowed < 0.5:
            return "beyond the bound"
        if self.slope < PRIOR_FRACTION * self.allowed:
            return "prior"
        return "measurement"

    def as_dict(self) -> dict[str, object]:
        return {
            "label": self.name,
            "n": self.n,
            "slope": self.slope,
            "slope_err": self.slope_err,
            "allowed_slope": self.allowed,
            "top_leak_label": self.leak_label,
            "top_leak": self.leak,
            "top_leak_err": self.leak_err,
            "verdict": self.verdict,
        }


def leakage(
    pred: Mapping[str, np.ndarray],
    truth: Mapping[str, np.ndarray],
    crlb: Mapping[str, np.ndarray] | None = None,
    *,
    names: Sequence[str] | None = None,
) -> list[Leakage]:
    """The leakage of every abundance in ``names`` (default: every abundance of
    ``pred`` with a truth).

    Args:
        pred: predicted labels by name, one value per star.
        truth: the true labels by name (the regressors: every label with a spread).
        crlb: the Cramer-Rao bound per star by name, for the allowed slope.
        names: abundances to assess.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> mg = rng.normal(0, 0.1, 500)
        >>> t = {"mg_fe": mg, "si_fe": rng.permutation(mg)}  # same spread
        >>> (row,) = leakage({"mg_fe": t["si_fe"]}, t)  # Mg read from Si's lines
        >>> abs(round(row.slope, 2)), row.leak_label, round(row.leak, 2)
        (0.0, 'si_fe', 1.0)
    """
    crlb = crlb or {}
    regressors = [k for k in truth if np.nanstd(np.asarray(truth[k], float)) > 0]
    if names is None:
        names = [k for k in pred if is_abundance(k) and k in regressors]
    out = []
    for name in names:
        y = np.asarray(pred[name], float)
        x = np.column_stack([np.asarray(truth[k], float) for k in regressors])
        ok = np.isfinite(y) & np.isfinite(x).all(axis=1)
        if ok.sum() < len(regressors) + 3:
            continue
        beta, err = _least_squares(x[ok], y[ok])
        spread = np.std(x[ok], axis=0)
        own = regressors.index(name)
        scale = spread / spread[own]
        others = [j for j in range(len(regressors)) if j != own]
        top = max(others, key=lambda j: abs(beta[j] * scale[j]), default=None)
        allowed = float("nan")
        if name in crlb:
            c = np.asarray(crlb[name], float)[ok]
            c2 = np.nanmean(c**2)
            allowed = float(spread[own] ** 2 / (spread[own] ** 2 + c2))
        out.append(
            Leakage(
                name,
                float(beta[own]),
                float(err[own]),
                regressors[top] if top is not None else "",
                float(beta[top] * scale[top]) if top is not None else 0.0,
                float(err[top] * scale[top]) if top is not None else 0.0,
                allowed,
                int(ok.sum()),
            )
        )
    return out


def _least_squares(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Slopes of ``y`` on the columns of ``x`` (with an intercept) and their
    standard errors."""
    design = np.column_stack([x - x.mean(axis=0), np.ones(len(x))])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef
    dof = max(1, len(y) - design.shape[1])
    cov = resid @ resid / dof * np.linalg.pinv(design.T @ design)
    return coef[:-1], np.sqrt(np.clip(np.diag(cov)[:-1], 0, None))
