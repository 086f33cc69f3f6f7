"""Science checks the papers use to validate labels (Ambrosch 2023, Candebat 2024):
disc bimodality with HDBSCAN, open-cluster spreads, globular-cluster Mg-Al
anticorrelation, Li-rich giant candidates."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

__all__ = [
    "DiscSplit",
    "cluster_spreads",
    "disc_split",
    "li_rich_candidates",
    "pearson_r",
]


@dataclass(frozen=True)
class DiscSplit:
    """HDBSCAN's thin/thick disc assignment in the [Mg/Fe]-[Fe/H] plane.

    Attributes:
        assignment: ``"thin"``, ``"thick"``, ``"noise"`` or ``""`` (not used: halo
            metallicity or missing values), one per star.
        noise_fraction: share of the used stars HDBSCAN left unassigned.
        n_clusters: clusters HDBSCAN found (the two largest become the discs).
    """

    assignment: np.ndarray
    noise_fraction: float
    n_clusters: int

    def fraction_correct(self, truth: np.ndarray) -> float:
        """Share of stars assigned to a disc whose true population is that disc
        (stars truly in ``thin`` or ``thick`` only)."""
        truth = np.asarray(truth).astype(str)
        use = np.isin(self.assignment, ["thin", "thick"]) & np.isin(
            truth, ["thin", "thick"]
        )
        return (
            float(np.mean(self.assignment[use] == truth[use]))
            if use.any()
            else float("nan")
        )


def disc_split(
    fe_h: np.ndarray,
    mg_fe: np.ndarray,
    *,
    min_fe_h: float = -1.2,
    min_cluster_size: int | None = None,
) -> DiscSplit:
    """Split stars with [Fe/H] > ``min_fe_h`` into thin and thick disc with HDBSCAN
    (scikit-learn) on standardised ([Fe/H], [Mg/Fe]); of the two largest clusters the
    one with the higher median [Mg/Fe] is the thick disc."""
    from sklearn.cluster import HDBSCAN

    fe_h, mg_fe = np.asarray(fe_h, float), np.asarray(mg_fe, float)
    use = np.isfinite(fe_h) & np.isfinite(mg_fe) & (fe_h > min_fe_h)
    out = np.full(fe_h.size, "", dtype=object)
    if use.sum() < 10:
        return DiscSplit(out.astype(str), float("nan"), 0)
    x = np.column_stack([fe_h[use], mg_fe[use]])
    x = (x - x.mean(0)) / x.std(0)
    size = min_cluster_size or max(10, int(use.sum()) // 20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # the `copy` default change
        labels = HDBSCAN(min_cluster_size=size, copy=True).fit(x).labels_
    found = [c for c in np.unique(labels) if c >= 0]
    names = np.full(labels.size, "noise", dtype=object)
    if found:
        biggest = sorted(found, key=lambda c: -(labels == c).sum())[:2]
        if len(biggest) == 2:
            med = [np.median(mg_fe[use][labels == c]) for c in biggest]
            thick = biggest[int(np.argmax(med))]
            thin = biggest[1 - int(np.argmax(med))]
            names[labels == thick], names[labels == thin] = "thick", "thin"
        else:
            names[labels == biggest[0]] = "thin"
    out[use] = names
    return DiscSplit(out.astype(str), float(np.mean(labels < 0)), len(found))


def cluster_spreads(
    cluster: np.ndarray, values: np.ndarray, min_members: int = 5
) -> dict[str, tuple[int, float]]:
    """Per cluster name (non-empty): (members with a finite value, std of the values)."""
    cluster = np.asarray(cluster).astype(str)
    values = np.asarray(values, float)
    out = {}
    for name in sorted(set(cluster) - {""}):
        v = values[(cluster == name) & np.isfinite(values)]
        if v.size >= min_members:
            out[name] = (int(v.size), float(np.std(v, ddof=1)))
    return out


def pearson_r(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation of the finite pairs (NaN with fewer than 3)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.std(x[ok]) == 0 or np.std(y[ok]) == 0:
        return float("nan")
    return float(np.corrcoef(x[ok], y[ok])[0, 1])


def li_rich_candidates(
    a_li: np.ndarray,
    logg: np.ndarray,
    a_li_err: np.ndarray | None = None,
    *,
    min_a_li: float = 2.0,
    max_logg: float = 3.5,
    max_err: float = 0.2,
) -> np.ndarray:
    """Boolean mask of Li-rich giant candidates: A(Li) > 2, log g < 3.5 and (when
    given) an A(Li) uncertainty below ``max_err`` dex (Ambrosch 2023's selection)."""
    a_li, logg = np.asarray(a_li, float), np.asarray(logg, float)
    ok = (a_li > min_a_li) & (logg < max_logg)
    if a_li_err is not None:
        ok &= np.asarray(a_li_err, float) < max_err
    return ok
