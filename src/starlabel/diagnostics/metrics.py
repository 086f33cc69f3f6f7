"""Residual statistics and calibration of predicted labels against reference labels."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from astropy.table import Table

from ..errors import StarlabelInputError
from ..spectra.container import Spectra

__all__ = ["LabelMetrics", "label_metrics", "match_truth", "evaluate"]


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
    z_std = cov68 = cov95 = nan
    if sigma is not None:
        s = np.asarray(sigma, dtype=float)[ok]
        good = np.isfinite(s) & (s > 0)
        if good.any():
            z = res[good] / s[good]
            z_std = float(np.std(z, ddof=1)) if z.size > 1 else nan
            cov68 = float(np.mean(np.abs(z) <= 1.0))
            cov95 = float(np.mean(np.abs(z) <= 2.0))
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
