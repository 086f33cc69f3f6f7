"""Residual statistics and calibration of predicted labels against reference labels."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from astropy.table import Table

from ..errors import StarlabelInputError
from ..spectra.container import Spectra

__all__ = [
    "BinCalibration",
    "LabelMetrics",
    "binned_calibration",
    "z_statistics",
    "evaluate",
    "label_metrics",
    "match_truth",
]


@dataclass(frozen=True)
class LabelMetrics:
    """How well one label is recovered (residual = predicted - reference).

    Attributes:
        name, unit: the label.
        n: stars with a finite prediction and reference.
        bias, std: mean and standard deviation of the residuals.
        robust_std: 1.4826 x median absolute deviation of the residuals.
        p15, p85: 15th and 85th percentiles of the residuals.
        sigma_over_crlb: ``std`` divided by the median Cramer-Rao bound of the same
            stars (NaN without bounds): 1 is the best any method can do.
        z_std: standard deviation of residual / total uncertainty (1 = calibrated).
        coverage_68, coverage_95: fraction of stars whose reference lies within
            1 and 2 total sigma of the prediction.
    """

    name: str
    unit: str
    n: int
    bias: float
    std: float
    robust_std: float
    p15: float
    p85: float
    sigma_over_crlb: float
    z_std: float
    coverage_68: float
    coverage_95: float

    def as_dict(self) -> dict:
        return asdict(self)


def label_metrics(
    name: str,
    predicted: np.ndarray,
    reference: np.ndarray,
    *,
    sigma: np.ndarray | None = None,
    crlb: np.ndarray | None = None,
    unit: str = "",
) -> LabelMetrics:
    """Metrics of one label.

    Example:
        >>> m = label_metrics("teff", np.array([5010.0, 4990, 5020]), np.array([5000.0, 5000, 5000]))
        >>> round(m.bias, 3), m.n
        (6.667, 3)
    """
    pred = np.asarray(predicted, dtype=float)
    ref = np.asarray(reference, dtype=float)
    ok = np.isfinite(pred) & np.isfinite(ref)
    res = pred[ok] - ref[ok]
    nan = float("nan")
    if res.size == 0:
        return LabelMetrics(name, unit, 0, nan, nan, nan, nan, nan, nan, nan, nan, nan)
    med = np.median(res)
    robust = 1.4826 * np.median(np.abs(res - med))
    p15, p85 = np.percentile(res, [15, 85])
    std = float(np.std(res, ddof=1)) if res.size > 1 else nan
    ratio = nan
    if crlb is not None:
        c = np.asarray(crlb, dtype=float)[ok]
        c = c[np.isfinite(c)]
        if c.size:
            ratio = std / float(np.median(c))
    _, z_std, cov68, cov95 = z_statistics(
        res, None if sigma is None else np.asarray(sigma, dtype=float)[ok]
    )
    return LabelMetrics(
        name,
        unit,
        int(res.size),
        float(np.mean(res)),
        std,
        float(robust),
        float(p15),
        float(p85),
        ratio,
        z_std,
        cov68,
        cov95,
    )


def match_truth(catalogue: Table, truth: Spectra) -> np.ndarray:
    """Row of ``truth`` for each catalogue row (by id); -1 where absent.

    Raises:
        StarlabelInputError: when no id matches.
    """
    position = {sid: i for i, sid in enumerate(truth.ids.tolist())}
    rows = np.array([position.get(str(s), -1) for s in catalogue["id"]], dtype=int)
    if not (rows >= 0).any():
        raise StarlabelInputError("no catalogue id matches the reference dataset's ids")
    return rows


def evaluate(catalogue: Table, truth: Spectra) -> list[LabelMetrics]:
    """Metrics for every label that is in both the catalogue and the reference."""
    rows = match_truth(catalogue, truth)
    found = rows >= 0
    out = []
    for name in truth.label_names:
        if name not in catalogue.colnames:
            continue
        pred = np.asarray(catalogue[name], dtype=float)[found]
        ref = truth.labels[name][rows[found]]
        sigma = (
            np.asarray(catalogue[f"{name}_err"], dtype=float)[found]
            if f"{name}_err" in catalogue.colnames
            else None
        )
        crlb = (
            truth.labels_crlb[name][rows[found]] if name in truth.labels_crlb else None
        )
        out.append(
            label_metrics(
                name,
                pred,
                ref,
                sigma=sigma,
                crlb=crlb,
                unit=truth.label_units.get(name, ""),
            )
        )
    if not out:
        raise StarlabelInputError("the catalogue and the reference share no label")
    return out


#: Bins of ``evaluate``'s calibration table: S/N and reference Teff [K].
SNR_BINS = ((10.0, 20.0), (20.0, 50.0), (50.0, 150.0))
TEFF_BINS = ((0.0, 4500.0), (4500.0, 5500.0), (5500.0, np.inf))


@dataclass(frozen=True)
class BinCalibration:
    """Calibration of one label's ``_err`` (and ``_err_raw``) in one bin.

    Attributes:
        name: the label.
        bin: ``"all"``, ``"snr 10-20"``, ``"teff < 4500"``, ...
        n: stars with a prediction, a reference and an error.
        z_std, coverage_68, coverage_95: of residual / ``_err``.
        z_std_raw, coverage_68_raw: the same with ``_err_raw`` (NaN without one).
    """

    name: str
    bin: str
    n: int
    z_std: float
    coverage_68: float
    coverage_95: float
    z_std_raw: float
    coverage_68_raw: float

    def as_dict(self) -> dict:
        return asdict(self)


def z_statistics(
    res: np.ndarray, sigma: np.ndarray | None
) -> tuple[int, float, float, float]:
    """``(n, z std, 68 % coverage, 95 % coverage)`` of residual / sigma over the
    stars with a finite positive sigma (NaN figures for fewer than 2)."""
    nan = float("nan")
    if sigma is None:
        return 0, nan, nan, nan
    good = np.isfinite(res) & np.isfinite(sigma) & (sigma > 0)
    if good.sum() < 2:
        return int(good.sum()), nan, nan, nan
    z = res[good] / sigma[good]
    return (
        int(good.sum()),
        float(np.std(z, ddof=1)),
        float(np.mean(np.abs(z) <= 1.0)),
        float(np.mean(np.abs(z) <= 2.0)),
    )


def _bin_names(
    snr: np.ndarray, teff: np.ndarray | None
) -> list[tuple[str, np.ndarray]]:
    bins = [("all", np.ones(snr.shape, dtype=bool))]
    for lo, hi in SNR_BINS:
        bins.append((f"snr {lo:g}-{hi:g}", (snr >= lo) & (snr < hi)))
    if teff is not None:
        for lo, hi in TEFF_BINS:
            name = (
                f"teff < {hi:g} K"
                if lo == 0
                else f"teff > {lo:g} K"
                if not np.isfinite(hi)
                else f"teff {lo:g}-{hi:g} K"
            )
            bins.append((name, (teff >= lo) & (teff < hi)))
    return bins


def binned_calibration(
    catalogue: Table, truth: Spectra, snr: np.ndarray | None = None
) -> list[BinCalibration]:
    """z std and coverage of every label, overall and per S/N and Teff bin (S/N of
    the reference spectra unless given; Teff of the reference labels).

    Example:
        >>> import astropy.units as u
        >>> ref = Spectra(np.ones((4, 2)), np.array([5000.0, 5001.0]) * u.AA,
        ...     labels={"teff": np.array([4000.0, 5000, 6000, 5000])},
        ...     meta={"id": np.array(["a", "b", "c", "d"])})
        >>> cat = Table({"id": ["a", "b", "c", "d"], "teff": [4010.0, 4990, 6000, 5020],
        ...     "teff_err": [10.0, 10, 10, 10]})
        >>> rows = binned_calibration(cat, ref, snr=np.array([15.0, 15, 30, 30]))
        >>> [(r.bin, r.n) for r in rows][:3]
        [('all', 4), ('snr 10-20', 2), ('snr 20-50', 2)]
    """
    rows = match_truth(catalogue, truth)
    found = rows >= 0
    sub = truth[rows[found]]
    s = (
        np.asarray(snr, dtype=float)[rows[found]]
        if snr is not None
        else (sub.meta["snr"].astype(float) if "snr" in sub.meta else sub.snr())
    )
    teff = sub.labels.get("teff")
    out = []
    for name in truth.label_names:
        if name not in catalogue.colnames or f"{name}_err" not in catalogue.colnames:
            continue
        res = np.asarray(catalogue[name], float)[found] - sub.labels[name]
        err = np.asarray(catalogue[f"{name}_err"], float)[found]
        raw = (
            np.asarray(catalogue[f"{name}_err_raw"], float)[found]
            if f"{name}_err_raw" in catalogue.colnames
            else None
        )
        for label, sel in _bin_names(s, teff):
            n, z, c68, c95 = z_statistics(res[sel], err[sel])
            _, zr, c68r, _ = z_statistics(res[sel], None if raw is None else raw[sel])
            out.append(BinCalibration(name, label, n, z, c68, c95, zr, c68r))
    return out
