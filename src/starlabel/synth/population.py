"""Stellar populations for the synthetic survey: a Galactic mixture, or uniform labels.

``galactic`` (the default) mixes what a Milky Way survey sees:

* **field stars** of the thin disc (62 %), thick disc (22 %) and halo (8 %), with
  [Fe/H] ~ N(-0.05, 0.22), N(-0.6, 0.3) and N(-1.5, 0.45) (clipped, reaching -2.5);
  [Mg/Fe] low and gently rising to low [Fe/H] in the thin disc, a plateau at +0.30
  with a knee at [Fe/H] = -0.5 in the thick disc, +0.35 in the halo — the
  [Mg/Fe]-[Fe/H] bimodality; Si, Ca, Ti follow Mg with slopes 0.8, 0.7, 0.75;
* evolutionary stages on a Kiel diagram: main sequence (log g from 4.75 at 3900 K
  to 4.2 at 6600 K), turn-off, subgiants, red giant branch
  (Teff = 3700 + 400 log g - 150 [Fe/H]: hotter at low metallicity) and red clump
  (log g 2.45, Teff = 4700 - 200 [Fe/H]);
* **open clusters** (5 %): four clusters, each of one chemistry (spreads 0.02 dex)
  along one sequence; **globular clusters** (3 %): two clusters of giants and
  turn-off stars with the Mg-Al anticorrelation of their second generation;
* **lithium**: warm dwarfs A(Li) ~ 2.6, the Spite plateau (2.2) for metal-poor
  warm dwarfs, depleted cool dwarfs, giants below 1.5, and 1 % Li-rich giants
  (A(Li) 2-3.5, log g < 3.5, ``meta['li_rich']``);
* microturbulence from :func:`vmic_relation`, rotation mostly slow with faster F
  dwarfs, S/N log-uniform in ``snr`` (default 10-150), radial velocities per
  component (``meta['rv']``, km/s).

``decorrelated`` keeps the Galactic stars' Teff, log g, [Fe/H], stages, lithium and
rotation, and draws every [X/Fe] independently of the others and of [Fe/H],
uniformly over :data:`DECORRELATED_RANGES` (about the Galactic population's range):
stars whose abundances break the training set's correlations, on which a model
shows whether an abundance follows its own element's lines. ``globular`` is the
globular-cluster component alone (its second generation: Mg-poor, Al-rich).

``uniform`` draws every label independently over given ranges (for tests).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .components import (
    COMPONENTS,
    DECORRELATED_RANGES,
    GLOBULAR_CLUSTERS,
    OPEN_CLUSTERS,
    UNIFORM_RANGES,
)
from .physics import LABELS, vmic_relation

__all__ = [
    "DECORRELATED_RANGES",
    "KINDS",
    "Population",
    "UNIFORM_RANGES",
    "sample_population",
]

#: the populations :func:`sample_population` draws.
KINDS = ("galactic", "decorrelated", "globular", "uniform")


@dataclass
class Population:
    """Labels (one array per name of :data:`LABELS`) and per-star metadata."""

    labels: dict[str, np.ndarray]
    meta: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.labels["teff"].size)

    def array(self) -> np.ndarray:
        """``(n_stars, 12)`` labels in the order of :data:`LABELS`."""
        return np.column_stack([self.labels[k] for k in LABELS])


def _kiel(
    stage: np.ndarray, fe_h: np.ndarray, rng: np.random.Generator, scatter: float = 1.0
):
    n = stage.size
    teff = np.empty(n)
    logg = np.empty(n)
    for name in np.unique(stage):
        m = stage == name
        k = int(m.sum())
        f = fe_h[m]
        if name == "ms":
            t = rng.uniform(3900.0, 6600.0, k) - 120.0 * f
            g = (
                4.75
                - 0.55 * ((t - 3900.0) / 2700.0) ** 2
                + rng.normal(0, 0.08 * scatter, k)
            )
        elif name == "to":
            t = 6100.0 - 250.0 * f + rng.normal(0, 150.0 * scatter, k)
            g = rng.uniform(3.9, 4.2, k)
        elif name == "sg":
            t = rng.uniform(5000.0, 6000.0, k) - 100.0 * f
            g = rng.uniform(3.4, 3.9, k)
        elif name == "rgb":
            g = rng.uniform(0.8, 3.4, k)
            t = 3700.0 + 400.0 * g - 150.0 * f + rng.normal(0, 60.0 * scatter, k)
        else:  # red clump
            g = rng.normal(2.45, 0.08 * scatter, k)
            t = 4700.0 - 200.0 * f + rng.normal(0, 60.0 * scatter, k)
        teff[m] = np.clip(t, 3800.0, 7000.0)
        logg[m] = np.clip(g, 0.5, 5.0)
    return teff, logg


def _lithium(teff, logg, fe_h, rng, young=None):
    n = teff.size
    a = np.empty(n)
    dwarf = logg >= 3.9
    sub = (logg >= 3.5) & ~dwarf
    giant = logg < 3.5
    warm = dwarf & (teff > 5900)
    mid = dwarf & (teff > 5500) & ~warm
    cool = dwarf & ~warm & ~mid
    a[warm] = rng.normal(2.6, 0.3, warm.sum())
    a[mid] = rng.normal(2.0, 0.5, mid.sum())
    a[cool] = rng.normal(1.0, 0.6, cool.sum())
    a[sub] = rng.normal(1.8, 0.5, sub.sum())
    a[giant] = np.minimum(rng.normal(0.8, 0.4, giant.sum()), 1.45)
    plateau = warm & (fe_h < -1.3)
    a[plateau] = rng.normal(2.2, 0.08, plateau.sum())
    if young is not None:
        a[young & dwarf] = rng.normal(3.0, 0.2, (young & dwarf).sum())
    return np.clip(a, -0.5, 3.6)


def _alpha(
    fe_h: np.ndarray, component: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    mg = np.empty(fe_h.size)
    thin = component == "thin"
    thick = component == "thick"
    halo = component == "halo"
    mg[thin] = -0.12 * fe_h[thin] + rng.normal(0, 0.04, thin.sum())
    knee = np.where(fe_h < -0.5, 0.30, 0.30 - 0.4 * (fe_h + 0.5))
    mg[thick] = knee[thick] + rng.normal(0, 0.04, thick.sum())
    mg[halo] = 0.35 + rng.normal(0, 0.06, halo.sum())
    return mg


def sample_population(
    n: int,
    *,
    kind: str = "galactic",
    seed: int = 0,
    snr: tuple[float, float] = (10.0, 150.0),
    ranges: dict[str, tuple[float, float]] | None = None,
) -> Population:
    """Draw ``n`` stars.

    Args:
        n: number of stars.
        kind: one of :data:`KINDS` (see the module).
        seed: random seed (the same seed gives the same stars).
        snr: S/N range per pixel; drawn log-uniform.
        ranges: label ranges for ``"uniform"`` (defaults :data:`UNIFORM_RANGES`).

    Example:
        >>> pop = sample_population(1000, seed=1)
        >>> bool(pop.labels["fe_h"].min() >= -2.5), sorted(set(pop.meta["population"].tolist()))[:2]
        (True, ['globular_cluster', 'halo'])
    """
    if n < 1:
        raise ValueError(f"n: expected >= 1, got {n}")
    if not 0 < snr[0] <= snr[1]:
        raise ValueError(f"snr: expected 0 < low <= high, got {snr}")
    rng = np.random.default_rng(seed)
    sn = np.exp(rng.uniform(np.log(snr[0]), np.log(snr[1]), n))
    if kind == "uniform":
        return _uniform(n, rng, sn, ranges)
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {', '.join(KINDS)}, got {kind!r}")
    shares = COMPONENTS
    if kind == "globular":
        shares = {c: float(c == "globular_cluster") for c in COMPONENTS}
    comp, fe_h, cluster, rv, stage, young, oc, gc = _membership(n, rng, shares)

    field = np.isin(comp, ["thin", "thick", "halo"])
    teff, logg = _kiel(stage, fe_h, rng)
    in_cluster = ~field
    if in_cluster.any():  # clusters follow one sequence: less scatter
        t2, g2 = _kiel(stage[in_cluster], fe_h[in_cluster], rng, scatter=0.3)
        teff[in_cluster], logg[in_cluster] = t2, g2

    mg, al, si, ca, ti, ni = _abundances(comp, fe_h, cluster, oc, gc, rng)
    if kind == "decorrelated":  # after every Galactic draw: the same stars otherwise
        own = np.random.default_rng([seed, 1])
        mg, al, si, ca, ti, ni = (
            own.uniform(*DECORRELATED_RANGES[k], n)
            for k in ("mg_fe", "al_fe", "si_fe", "ca_fe", "ti_fe", "ni_fe")
        )

    a_li, li_rich, vmic, vsini = _lithium_and_rotation(
        teff, logg, fe_h, stage, young, in_cluster, rng
    )

    labels = {
        "teff": teff,
        "logg": logg,
        "fe_h": fe_h,
        "mg_fe": mg,
        "al_fe": al,
        "si_fe": si,
        "ca_fe": ca,
        "ti_fe": ti,
        "ni_fe": ni,
        "a_li": a_li,
        "vmic": vmic,
        "vsini": vsini,
    }
    meta = {
        "population": comp.astype(str),
        "cluster": cluster,
        "stage": stage,
        "li_rich": li_rich,
        "snr": sn,
        "rv": rv,
    }
    return Population(labels, meta)


def _uniform(
    n: int,
    rng: np.random.Generator,
    sn: np.ndarray,
    ranges: dict[str, tuple[float, float]] | None,
) -> Population:
    """Labels drawn independently and uniformly over ``ranges``."""
    r = dict(UNIFORM_RANGES, **(ranges or {}))
    labels = {k: rng.uniform(*r[k], n) for k in LABELS if k != "vmic"}
    labels["vmic"] = vmic_relation(labels["teff"], labels["logg"])
    meta = {
        "population": np.full(n, "uniform"),
        "cluster": np.full(n, ""),
        "snr": sn,
        "rv": rng.normal(0, 30.0, n),
        "li_rich": np.zeros(n, bool),
        "stage": np.full(n, ""),
    }
    return Population({k: labels[k] for k in LABELS}, meta)


def _membership(n: int, rng: np.random.Generator, shares: dict[str, float]) -> tuple:
    """Each star's component (thin, thick, halo, open or globular cluster; drawn
    with ``shares``), [Fe/H], cluster name, RV, evolutionary stage and youth; the
    rows of the clusters' stars (open, globular)."""
    comp = rng.choice(list(shares), n, p=list(shares.values()))
    fe_h = np.empty(n)
    cluster = np.full(n, "", dtype=object)
    rv = np.empty(n)
    for name, (mu, sd, lo, hi, srv) in {
        "thin": (-0.05, 0.22, -1.0, 0.5, 35.0),
        "thick": (-0.6, 0.3, -1.6, 0.1, 60.0),
        "halo": (-1.5, 0.45, -2.5, -0.6, 160.0),
    }.items():
        m = comp == name
        fe_h[m] = np.clip(rng.normal(mu, sd, m.sum()), lo, hi)
        rv[m] = rng.normal(0.0, srv, m.sum())
    stage = np.empty(n, dtype=object)
    field_stages = (["ms", "to", "sg", "rgb", "rc"], [0.42, 0.12, 0.10, 0.26, 0.10])
    halo_stages = (["ms", "to", "sg", "rgb", "rc"], [0.20, 0.25, 0.15, 0.35, 0.05])
    for name, (stages, p) in (
        ("thin", field_stages),
        ("thick", field_stages),
        ("halo", halo_stages),
    ):
        m = comp == name
        stage[m] = rng.choice(stages, m.sum(), p=p)

    oc = np.flatnonzero(comp == "open_cluster")
    oc_names = list(OPEN_CLUSTERS)
    which = rng.integers(0, len(oc_names), oc.size)
    young = np.zeros(n, bool)
    for i, c in zip(oc, which, strict=True):
        feh, _, _, crv, is_young = OPEN_CLUSTERS[oc_names[c]]
        cluster[i] = oc_names[c]
        fe_h[i] = feh + rng.normal(0, 0.02)
        rv[i] = crv + rng.normal(0, 1.0)
        young[i] = is_young
        stage[i] = (
            "ms"
            if is_young
            else rng.choice(["ms", "to", "rgb", "rc"], p=[0.55, 0.15, 0.15, 0.15])
        )
    gc = np.flatnonzero(comp == "globular_cluster")
    gc_names = list(GLOBULAR_CLUSTERS)
    which_gc = rng.integers(0, len(gc_names), gc.size)
    for i, c in zip(gc, which_gc, strict=True):
        feh, crv = GLOBULAR_CLUSTERS[gc_names[c]]
        cluster[i] = gc_names[c]
        fe_h[i] = feh + rng.normal(0, 0.03)
        rv[i] = crv + rng.normal(0, 8.0)
        stage[i] = rng.choice(["rgb", "sg", "to"], p=[0.7, 0.15, 0.15])
    stage = stage.astype(str)
    cluster = cluster.astype(str)
    return comp, fe_h, cluster, rv, stage, young, oc, gc


def _abundances(
    comp: np.ndarray,
    fe_h: np.ndarray,
    cluster: np.ndarray,
    oc: np.ndarray,
    gc: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, ...]:
    """[Mg/Fe], [Al/Fe], [Si/Fe], [Ca/Fe], [Ti/Fe], [Ni/Fe] by component: the
    disc's alpha sequences, each open cluster's values, the globular clusters'
    Mg-Al anticorrelation."""
    n = comp.size
    field = np.isin(comp, ["thin", "thick", "halo"])
    in_cluster = ~field
    mg = np.empty(n)
    mg[field] = _alpha(fe_h[field], comp[field], rng)
    al = np.empty(n)
    al[comp == "thin"] = (
        0.05 - 0.05 * fe_h[comp == "thin"] + rng.normal(0, 0.05, (comp == "thin").sum())
    )
    al[comp == "thick"] = 0.25 + rng.normal(0, 0.06, (comp == "thick").sum())
    al[comp == "halo"] = 0.1 + rng.normal(0, 0.1, (comp == "halo").sum())
    for i in oc:
        _, cmg, cal, _, _ = OPEN_CLUSTERS[cluster[i]]
        mg[i] = cmg + rng.normal(0, 0.02)
        al[i] = cal + rng.normal(0, 0.02)
    # Globular clusters: first generation Mg-normal/Al-poor, second Mg-poor/Al-rich.
    second = rng.random(gc.size) < 0.6
    al_gc = np.where(
        second, rng.uniform(0.2, 1.2, gc.size), rng.normal(0.0, 0.05, gc.size)
    )
    mg[gc] = 0.40 - 0.3 * np.clip(al_gc, 0, None) / 1.2 + rng.normal(0, 0.03, gc.size)
    al[gc] = al_gc
    alpha_like = np.where(np.isin(comp, ["globular_cluster"]), 0.32, mg)
    spread = np.where(in_cluster, 0.02, 1.0)
    si = 0.8 * alpha_like + rng.normal(0, 0.03, n) * spread
    ca = 0.7 * alpha_like + rng.normal(0, 0.03, n) * spread
    ti = 0.75 * alpha_like + rng.normal(0, 0.04, n) * spread
    ni_mu = np.select([comp == "thick", comp == "halo"], [-0.03, -0.05], 0.0)
    ni = ni_mu + rng.normal(0, 0.04, n) * spread
    return mg, al, si, ca, ti, ni


def _lithium_and_rotation(
    teff: np.ndarray,
    logg: np.ndarray,
    fe_h: np.ndarray,
    stage: np.ndarray,
    young: np.ndarray,
    in_cluster: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, ...]:
    """A(Li) with 1 % Li-rich giants, microturbulence and v sin i."""
    n = teff.size
    a_li = _lithium(teff, logg, fe_h, rng, young)
    li_rich = np.zeros(n, bool)
    giants = np.flatnonzero((logg < 3.5) & (stage != "ms"))
    n_rich = int(round(0.01 * giants.size))
    if n_rich:
        pick = rng.choice(giants, n_rich, replace=False)
        a_li[pick] = rng.uniform(2.0, 3.5, n_rich)
        li_rich[pick] = True
    vmic = np.clip(
        vmic_relation(teff, logg)
        + rng.normal(0, 0.1, n) * np.where(in_cluster, 0.3, 1.0),
        0.5,
        2.5,
    )
    vsini = np.abs(rng.normal(0, 2.0, n)) + 0.5
    fast = (logg > 3.9) & (teff > 6200)
    vsini[fast] = np.clip(rng.lognormal(np.log(8.0), 0.6, fast.sum()), 0, 40)
    vsini[young & (teff > 5600)] += rng.uniform(0, 15, (young & (teff > 5600)).sum())
    return a_li, li_rich, vmic, vsini
