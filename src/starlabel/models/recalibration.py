"""Recalibration of predicted uncertainties on stars with trusted labels.

A model's raw 1-sigma ``s`` (what the network says) becomes, per label,

    sigma^2 = (a s)^2 + b^2 + (c (100 / snr)^p)^2,     a, b, c >= 0, 0.5 <= p <= 3

fitted by maximum likelihood to the residuals (prediction - reference) of held-out
stars, assumed Gaussian with that sigma: ``a`` rescales the network's own error,
``b`` is a floor in the label's unit (errors the network does not see) and ``c`` the
error of an S/N 100 spectrum that grows as (1/S/N)^p (noise the network does not
report; p = 1 for a linear estimator, larger where a network's errors grow faster
at low S/N, as the benchmark found in the S/N 10-20 bin). The map is monotone: it
never decreases as ``s`` grows or as S/N falls. Four parameters are few enough to
fit on a few hundred stars without overfitting, and the form is the one survey
pipelines use for their error inflation.

Repeat observations of one star need no reference labels: the difference of two
predictions has variance ``sigma_1^2 + sigma_2^2`` (independent noise), so the same
model is fitted to the differences (:func:`fit_calibration_pairs`). Errors common
to both observations (systematics) cancel in a difference; a repeat-pair
calibration therefore measures the random part only.

Chosen over split-conformal intervals: the catalogue reports a 1-sigma ``_err`` per
star, and conformal prediction gives an interval width at one coverage level, with
no per-star S/N dependence unless it is modelled anyway; the fitted sigma serves
every level at once (its coverage is checked in ``evaluate`` and the report).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize

__all__ = [
    "LabelCalibration",
    "fit_calibration",
    "fit_calibration_pairs",
    "calibrate_sigma",
    "below_snr_range",
]

#: S/N at which ``c`` is quoted.
SNR_REF = 100.0


@dataclass(frozen=True)
class LabelCalibration:
    """The fitted map of one label (see the module documentation).

    Attributes:
        a: factor on the raw sigma (dimensionless).
        b: floor, in the label's unit.
        c: S/N term at S/N 100, in the label's unit.
        p: exponent of the S/N term (calibrations of older versions: 1).
        snr_default: S/N used for spectra without one (median of the fit set).
        n: stars (or pairs) the fit used.
        z_std_raw, z_std: std of residual / sigma before and after, on the fit set.
        source: what it was fitted on (``validation``, a file name, ``pairs: ...``).
        p: exponent of the S/N term (calibrations of older versions: 1).
        by, edges, parts: the same map fitted separately in bins of the model's own
            predicted ``by`` label (``teff``; bin edges ``edges``); a bin with too
            few fit stars has no part (None) and uses the overall map. Errors of
            a label vary with the star's type more than the network's own error
            says (the benchmark's CNN teff z std was 0.56 among predicted-cool and
            1.17 among predicted-hot stars with one map for all).
        snr_range: lowest and highest S/N of the fit stars (calibrations of older
            versions: empty, no range). Below it the map does not extrapolate
            silently: the ``SNR_BELOW_CALIBRATION`` flag, and ``_err`` is the
            map's value times ``lowest / snr``; above it the map keeps its value
            at the highest S/N (errors do not shrink beyond what was checked).
    """

    a: float
    b: float
    c: float
    snr_default: float
    n: int
    z_std_raw: float
    z_std: float
    source: str = "validation"
    p: float = 1.0
    by: str = ""
    edges: tuple[float, ...] = ()
    parts: tuple[LabelCalibration | None, ...] = ()
    snr_range: tuple[float, ...] = ()

    def apply(
        self,
        sigma: np.ndarray,
        snr: np.ndarray | None = None,
        by_value: np.ndarray | None = None,
    ) -> np.ndarray:
        """Calibrated sigma of raw ``sigma`` at ``snr`` (NaN raw sigma -> the floor and
        S/N terms alone, so a model without a raw error still gets one); with
        ``parts``, each star's bin of ``by_value`` (its predicted ``by`` label)
        picks the map. Outside ``snr_range`` the map does not extrapolate
        silently (:func:`below_snr_range` flags it): above the range it keeps
        its value at the top, below it is multiplied by ``lowest S/N / snr``."""
        s = np.asarray(sigma, dtype=np.float64)
        if snr is not None:
            snr = np.broadcast_to(np.asarray(snr, dtype=np.float64), s.shape)
        widen = np.ones(s.shape)
        if self.snr_range and snr is not None:
            lo, hi = self.snr_range
            ok = np.isfinite(snr) & (snr > 0)
            widen = np.where(ok & (snr < lo), lo / np.where(ok, snr, 1.0), 1.0)
            snr = np.where(ok, np.minimum(snr, hi), snr)
        out = self._map(s, snr)
        if self.parts and by_value is not None:
            v = np.asarray(by_value, dtype=np.float64)
            where = np.digitize(v, self.edges)
            for i, part in enumerate(self.parts):
                sel = (where == i) & np.isfinite(v)
                if part is not None and sel.any():
                    out[sel] = part._map(s[sel], None if snr is None else snr[sel])
        return out * widen

    def _map(self, s: np.ndarray, snr: np.ndarray | None) -> np.ndarray:
        q = _snr_term(snr, s.shape, self.snr_default)
        raw = np.where(np.isfinite(s), s, 0.0)
        return np.sqrt((self.a * raw) ** 2 + self.b**2 + (self.c * q**self.p) ** 2)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["parts"] = [None if p is None else p.to_dict() for p in self.parts]
        d["edges"] = list(self.edges)
        d["snr_range"] = list(self.snr_range)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LabelCalibration:
        kw = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        kw["edges"] = tuple(float(x) for x in kw.get("edges", ()))
        kw["snr_range"] = tuple(float(x) for x in kw.get("snr_range", ()))
        kw["parts"] = tuple(
            None if p is None else cls.from_dict(p) for p in kw.get("parts", ())
        )
        return cls(**kw)

    def stratified(
        self,
        by: str,
        edges: Sequence[float],
        fit_part: Callable[[np.ndarray], LabelCalibration | None],
        values: np.ndarray,
    ) -> LabelCalibration:
        """This map with ``parts`` fitted by ``fit_part(selection)`` in each bin of
        ``values`` (the fit stars' predicted ``by``)."""
        where = np.digitize(np.asarray(values, dtype=np.float64), edges)
        parts = tuple(
            fit_part((where == i) & np.isfinite(values)) for i in range(len(edges) + 1)
        )
        return dataclasses.replace(self, by=by, edges=tuple(edges), parts=parts)


def _snr_term(snr: np.ndarray | None, shape: tuple, default: float) -> np.ndarray:
    if snr is None:
        return np.full(shape, SNR_REF / default)
    q = np.asarray(snr, dtype=np.float64)
    q = np.where(np.isfinite(q) & (q > 0), q, default)
    return np.broadcast_to(SNR_REF / q, shape)


P_RANGE = (0.5, 3.0)


def _exponent(t: float) -> float:
    lo, hi = P_RANGE
    return lo + (hi - lo) / (1.0 + np.exp(-np.clip(t, -50.0, 50.0)))


def _fit(
    sigma: np.ndarray,
    q: np.ndarray,
    resid: np.ndarray,
    pair: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Maximum-likelihood (a, b, c, p) on log-parameters (p through a logistic onto
    ``P_RANGE``); ``pair`` = the second observation's (sigma, q) for differences."""
    scale = float(np.sqrt(np.mean(resid**2))) or 1.0
    s0 = float(np.median(sigma[sigma > 0])) if (sigma > 0).any() else scale
    q0 = float(np.median(q))

    def variance(theta: np.ndarray, s: np.ndarray, qq: np.ndarray) -> np.ndarray:
        a, b, c = np.exp(np.clip(theta[:3], -60.0, 60.0))
        p = _exponent(theta[3])
        return (a * s) ** 2 + (b * scale) ** 2 + (c * scale * (qq / q0) ** p) ** 2

    def nll(theta: np.ndarray) -> float:
        v = variance(theta, sigma, q)
        if pair is not None:
            v = v + variance(theta, *pair)
        return float(np.mean(np.log(v) + resid**2 / v))

    t1 = -np.log((P_RANGE[1] - 1.0) / (1.0 - P_RANGE[0]))  # p = 1
    starts = [
        np.r_[np.log([max(scale / s0, 1e-6), 0.3, 0.3]), t1],
        np.r_[np.log([1.0, 1e-3, 1e-3]), t1],
        np.r_[np.log([1e-3, 0.7, 1e-3]), t1],
        np.r_[np.log([1e-3, 1e-3, 0.7]), t1],
        np.r_[np.log([1e-3, 0.3, 0.7]), 2.0],
    ]
    best = min(
        (
            minimize(
                nll,
                x0,
                method="Nelder-Mead",
                options={"maxiter": 6000, "xatol": 1e-6, "fatol": 1e-9},
            )
            for x0 in starts
        ),
        key=lambda r: r.fun,
    )
    a, b, c = np.exp(np.clip(best.x[:3], -60.0, 60.0))
    p = _exponent(best.x[3])
    # c is quoted at S/N 100: c_100 (q)^p with q = 100/snr; the fit used (q/q0)^p
    return np.array([a, b * scale, c * scale / q0**p, p])


def _clean(*arrays: np.ndarray) -> np.ndarray:
    ok = np.ones(np.shape(arrays[0]), dtype=bool)
    for x in arrays:
        ok &= np.isfinite(x)
    return ok


def _result(
    abc: tuple[float, ...],
    snr_default: float,
    n: int,
    resid: np.ndarray,
    raw: np.ndarray,
    calibrated: np.ndarray,
    source: str,
    snr: np.ndarray,
) -> LabelCalibration:
    """The fitted map with its z std before and after on the fit set and the S/N
    range of the fit stars (``snr``: theirs, NaN where unknown)."""
    z_raw = resid / np.where(raw > 0, raw, np.nan)
    z_std_raw = (
        float(np.nanstd(z_raw, ddof=1))
        if np.isfinite(z_raw).sum() > 1
        else float("nan")
    )
    a, b, c, p = (float(x) for x in abc)
    z_std = float(np.std(resid / calibrated, ddof=1))
    good = snr[np.isfinite(snr) & (snr > 0)]
    span = (float(good.min()), float(good.max())) if good.size else ()
    return LabelCalibration(
        a, b, c, snr_default, n, z_std_raw, z_std, source, p, snr_range=span
    )


def fit_calibration(
    predicted: np.ndarray,
    sigma: np.ndarray,
    reference: np.ndarray,
    snr: np.ndarray | None,
    *,
    source: str = "validation",
    clip: float = 5.0,
) -> LabelCalibration:
    """Fit one label's map on stars with trusted ``reference`` values.

    Args:
        predicted, sigma, reference: ``(n,)`` prediction, raw 1-sigma, reference.
        snr: ``(n,)`` S/N of each spectrum (None: unknown, the S/N term is constant).
        source: recorded with the fit.
        clip: residuals beyond ``clip`` calibrated sigma are refitted without
            (repeated until the kept set is stable, at most 4 passes), so that a
            few catastrophic failures do not inflate every error.

    Raises:
        ValueError: fewer than 10 usable stars.

    Example:
        >>> rng = np.random.default_rng(1)
        >>> s = rng.uniform(0.05, 0.2, 4000)             # raw sigma, 3x too small
        >>> ref = np.zeros(4000); pred = rng.normal(0, 3 * s)
        >>> cal = fit_calibration(pred, s, ref, None)
        >>> round(cal.a, 1), round(cal.z_std, 2)
        (3.0, 1.0)
    """
    pred, s, ref = (
        np.asarray(x, dtype=np.float64) for x in (predicted, sigma, reference)
    )
    snr_arr = np.full(pred.shape, np.nan) if snr is None else np.asarray(snr, float)
    ok = _clean(pred, ref) & np.where(np.isfinite(s), s >= 0, True)
    if ok.sum() < 10:
        raise ValueError(
            f"{int(ok.sum())} stars with a prediction and a reference: a calibration needs at least 10"
        )
    good_snr = snr_arr[ok][np.isfinite(snr_arr[ok]) & (snr_arr[ok] > 0)]
    snr_default = float(np.median(good_snr)) if good_snr.size else SNR_REF
    resid = pred[ok] - ref[ok]
    raw = np.where(np.isfinite(s[ok]), s[ok], 0.0)
    q = _snr_term(snr_arr[ok], resid.shape, snr_default)
    keep = np.ones(resid.size, dtype=bool)
    for _ in range(5):
        a, b, c, p = _fit(raw[keep], q[keep], resid[keep])
        cal_sigma = np.sqrt((a * raw) ** 2 + b**2 + (c * q**p) ** 2)
        new = np.abs(resid) <= clip * cal_sigma
        if new.sum() < 10 or (new == keep).all():
            break
        keep = new
    return _result(
        (a, b, c, p),
        snr_default,
        int(ok.sum()),
        resid,
        raw,
        cal_sigma,
        source,
        snr_arr[ok],
    )


def fit_calibration_pairs(
    first: tuple[np.ndarray, np.ndarray, np.ndarray | None],
    second: tuple[np.ndarray, np.ndarray, np.ndarray | None],
    *,
    source: str = "pairs",
    clip: float = 5.0,
) -> LabelCalibration:
    """Fit one label's map on repeat observations: ``first`` and ``second`` are
    ``(predicted, raw sigma, snr)`` of the two spectra of each pair; the reference
    is not needed (see the module documentation).

    Example:
        >>> rng = np.random.default_rng(2)
        >>> s1, s2 = rng.uniform(0.05, 0.2, (2, 4000))    # raw sigma, 2x too small
        >>> y1, y2 = rng.normal(0, 2 * s1), rng.normal(0, 2 * s2)
        >>> cal = fit_calibration_pairs((y1, s1, None), (y2, s2, None))
        >>> round(cal.a, 1)
        2.0
    """
    (p1, s1, n1), (p2, s2, n2) = first, second
    p1, s1, p2, s2 = (np.asarray(x, dtype=np.float64) for x in (p1, s1, p2, s2))
    n1 = np.full(p1.shape, np.nan) if n1 is None else np.asarray(n1, float)
    n2 = np.full(p2.shape, np.nan) if n2 is None else np.asarray(n2, float)
    ok = _clean(p1, p2)
    if ok.sum() < 10:
        raise ValueError(
            f"{int(ok.sum())} usable pairs: a calibration needs at least 10"
        )
    both = np.concatenate([n1[ok], n2[ok]])
    good = both[np.isfinite(both) & (both > 0)]
    snr_default = float(np.median(good)) if good.size else SNR_REF
    d = p1[ok] - p2[ok]
    r1 = np.where(np.isfinite(s1[ok]), s1[ok], 0.0)
    r2 = np.where(np.isfinite(s2[ok]), s2[ok], 0.0)
    q1 = _snr_term(n1[ok], d.shape, snr_default)
    q2 = _snr_term(n2[ok], d.shape, snr_default)
    keep = np.ones(d.size, dtype=bool)
    for _ in range(5):
        a, b, c, p = _fit(r1[keep], q1[keep], d[keep], pair=(r2[keep], q2[keep]))
        v = (
            (a * r1) ** 2
            + (a * r2) ** 2
            + 2 * b**2
            + (c * q1**p) ** 2
            + (c * q2**p) ** 2
        )
        new = np.abs(d) <= clip * np.sqrt(v)
        if new.sum() < 10 or (new == keep).all():
            break
        keep = new
    raw_pair = np.sqrt(r1**2 + r2**2)
    return _result(
        (a, b, c, p),
        snr_default,
        int(ok.sum()),
        d,
        raw_pair,
        np.sqrt(v),
        source,
        both,
    )


def below_snr_range(
    calibration: Mapping[str, LabelCalibration] | None, snr: np.ndarray | None
) -> np.ndarray | None:
    """``(n,)`` True where ``snr`` lies below the S/N range of any label's map,
    where the map extrapolates (None: no map has a range, or no S/N). Above the
    range the map keeps its value at the top: no extrapolation, no flag."""
    lows = [c.snr_range[0] for c in (calibration or {}).values() if c.snr_range]
    if not lows or snr is None:
        return None
    q = np.asarray(snr, dtype=np.float64)
    return np.isfinite(q) & (q < max(lows))


def calibrate_sigma(
    calibration: Mapping[str, LabelCalibration] | None,
    names: Sequence[str],
    sigma: np.ndarray,
    snr: np.ndarray | None,
    values: np.ndarray | None = None,
) -> np.ndarray | None:
    """``(n, n_labels)`` calibrated sigma, or None when no label is calibrated
    (labels without a calibration keep NaN); ``values`` ``(n, n_labels)`` are the
    predicted labels (for stratified maps)."""
    if not calibration or not any(n in calibration for n in names):
        return None
    out = np.full(np.shape(sigma), np.nan)
    for k, name in enumerate(names):
        if name in calibration:
            cal = calibration[name]
            by = (
                values[:, list(names).index(cal.by)]
                if values is not None and cal.by in names
                else None
            )
            out[:, k] = cal.apply(sigma[:, k], snr, by)
    return out
