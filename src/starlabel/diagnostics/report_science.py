"""The report's science sections, drawn from the chosen catalogue matched to the
reference: one-to-one, uncertainties against S/N, Kiel diagram, thin and thick
disc, open-cluster spreads, globular-cluster Mg-Al and Li-rich giants. A section
whose labels or members are missing says so."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import numpy as np

from .report_html import Section, html_table, png

__all__ = [
    "Compared",
    "disc_section",
    "globular_section",
    "kiel_section",
    "li_rich_section",
    "one_to_one_section",
    "open_cluster_section",
    "snr_section",
]


def _col(table, name: str, rows: np.ndarray) -> np.ndarray | None:
    if name not in table.colnames:
        return None
    return np.asarray(table[name], dtype=float)[rows]


@dataclass(frozen=True)
class Compared:
    """A catalogue matched to the reference dataset: ``found`` marks the catalogue
    rows with a reference star, ``rows`` the reference rows they match; ``true`` and
    ``pred`` hold each evaluated label on those stars."""

    table: Any
    ref: Any
    metrics: list[Any]
    found: np.ndarray
    rows: np.ndarray
    true: dict[str, np.ndarray]
    pred: dict[str, np.ndarray]

    @classmethod
    def match(cls, table: Any, ref: Any) -> Compared:
        """Match ``table`` (a catalogue) to ``ref`` (the reference dataset)."""
        from .metrics import evaluate, match_truth

        hit = match_truth(table, ref)
        found = hit >= 0
        r = hit[found]
        metrics = evaluate(table, ref)
        names = [m.name for m in metrics]
        true = {n: ref.labels[n][r] for n in names}
        pred = {n: _col(table, n, found) for n in names}
        return cls(table, ref, metrics, found, r, true, pred)

    @property
    def names(self) -> list[str]:
        """The evaluated labels."""
        return [m.name for m in self.metrics]

    def column(self, name: str) -> np.ndarray | None:
        """A catalogue column on the matched stars (None when absent)."""
        return _col(self.table, name, self.found)

    def meta(self, name: str) -> np.ndarray | None:
        """A reference metadata column (as str) on the matched stars, or None."""
        if name not in self.ref.meta:
            return None
        return self.ref.meta[name][self.rows].astype(str)


def one_to_one_section(c: Compared) -> Section:
    """Predicted against reference label for every label."""
    from .plots.evaluation import plot_one_to_one

    names = c.names
    return Section(
        "One-to-one",
        "Predicted against reference label (colour: star density); points should hug the red line, "
        "the box gives bias, std and the 15th/85th percentiles of the residuals.",
        [
            png(
                plot_one_to_one(
                    [c.true[n] for n in names], [c.pred[n] for n in names], c.metrics
                )[0]
            )
        ],
    )


def snr_section(c: Compared) -> Section:
    """Residual scatter and predicted uncertainties (total, internal, external)
    per S/N bin."""
    from .plots import science as sp

    ref, names = c.ref, c.names
    units = [m.unit for m in c.metrics]
    r = c.rows
    snr = ref.meta["snr"][r].astype(float) if "snr" in ref.meta else ref[r].snr()
    errors = []
    for n in names:
        e = {}
        for kind, suffix in (
            ("total", "_err"),
            ("internal", "_err_int"),
            ("external", "_err_ext"),
        ):
            v = c.column(n + suffix)
            if v is not None and np.isfinite(v).any():
                e[kind] = v
        errors.append(e)
    return Section(
        "Uncertainties against S/N",
        "Robust residual scatter (black) and median predicted uncertainties per S/N bin: the total should "
        "follow the black line; the external (noise) part should fall with S/N, the internal (model) part "
        "stays where the training set is sparse.",
        [
            png(
                sp.plot_uncertainty_vs_snr(
                    snr, [c.pred[n] - c.true[n] for n in names], errors, names, units
                )[0]
            )
        ],
    )


def kiel_section(c: Compared) -> Section:
    """log g against Teff coloured by [Fe/H], truth and prediction."""
    from .plots import science as sp

    if not all(n in c.names for n in ("teff", "logg", "fe_h")):
        return Section("Kiel diagram", "Needs teff, logg and fe_h in the catalogue.")
    return Section(
        "Kiel diagram",
        "log g against Teff coloured by [Fe/H], truth (left) and prediction (right): the main sequence, "
        "turn-off and giant branch should be as sharp, and the metal-poor giants as blue, on both sides.",
        [png(sp.plot_kiel(c.true, c.pred)[0])],
    )


def disc_section(c: Compared) -> Section:
    """[Mg/Fe] against [Fe/H] with the discs split by HDBSCAN, truth and prediction."""
    from . import science
    from .plots import science as sp

    if not ("fe_h" in c.names and "mg_fe" in c.names):
        return Section("Thin and thick disc", "Needs fe_h and mg_fe in the catalogue.")
    true, pred, pops = c.true, c.pred, c.meta("population")
    st, spd = (
        science.disc_split(true["fe_h"], true["mg_fe"]),
        science.disc_split(pred["fe_h"], pred["mg_fe"]),
    )
    text = f"HDBSCAN noise fraction: truth {st.noise_fraction:.0%}, predicted {spd.noise_fraction:.0%}."
    if pops is not None:
        text += (
            f" Stars assigned to the right disc (population known): from true labels "
            f"{st.fraction_correct(pops):.0%}, from predicted labels {spd.fraction_correct(pops):.0%}."
        )
    return Section(
        "Thin and thick disc",
        "[Mg/Fe] against [Fe/H] with the two discs found by HDBSCAN (blue thin, red thick, grey noise): "
        "the high-alpha sequence should separate as clearly in the predictions as in the truth.",
        [png(sp.plot_disc_plane(true, pred, st.assignment, spd.assignment)[0])],
        f"<p>{html.escape(text)}</p>",
    )


def open_cluster_section(c: Compared) -> Section:
    """Abundance spread inside each open cluster, truth against prediction."""
    from . import science
    from .plots import science as sp

    pops, clusters = c.meta("population"), c.meta("cluster")
    oc = (pops == "open_cluster") if pops is not None else None
    abundances = [n for n in c.names if n.endswith("_fe") or n.endswith("_h")]
    if clusters is None or oc is None or not oc.any() or not abundances:
        return Section(
            "Open clusters", "No open-cluster members with abundances in this set."
        )
    spreads, rows = {}, []
    for n in abundances:
        a = science.cluster_spreads(clusters[oc], c.true[n][oc])
        b = science.cluster_spreads(clusters[oc], c.pred[n][oc])
        spreads[n] = {k: (a[k][1], b[k][1]) for k in a if k in b}
        rows += [[n, k, a[k][0], a[k][1], b[k][1]] for k in spreads[n]]
    return Section(
        "Open clusters",
        "Abundance spread (std) inside each open cluster, truth against prediction: clusters are "
        "chemically homogeneous, so a small predicted spread means precise labels.",
        [png(sp.plot_cluster_spreads(spreads)[0])],
        html_table(
            ["label", "cluster", "N", "true std [dex]", "predicted std [dex]"],
            rows,
        ),
    )


def globular_section(c: Compared) -> Section:
    """[Al/Fe] against [Mg/Fe] in globular clusters, truth and prediction."""
    from . import science
    from .plots import science as sp

    pops = c.meta("population")
    gc = (pops == "globular_cluster") if pops is not None else None
    if gc is None or gc.sum() < 3 or "mg_fe" not in c.names or "al_fe" not in c.names:
        return Section(
            "Globular clusters: Mg-Al",
            "Needs mg_fe, al_fe and globular-cluster members.",
        )
    true, pred = c.true, c.pred
    rt = science.pearson_r(true["mg_fe"][gc], true["al_fe"][gc])
    rp = science.pearson_r(pred["mg_fe"][gc], pred["al_fe"][gc])
    return Section(
        "Globular clusters: Mg-Al",
        "[Al/Fe] against [Mg/Fe] in globular clusters: second-generation stars are Mg-poor and Al-rich, "
        "so the predictions should keep the negative correlation of the truth.",
        [
            png(
                sp.plot_mg_al(
                    (true["mg_fe"][gc], true["al_fe"][gc]),
                    (pred["mg_fe"][gc], pred["al_fe"][gc]),
                    rt,
                    rp,
                )[0]
            )
        ],
        f"<p>Pearson r: truth {rt:.2f}, predicted {rp:.2f} ({int(gc.sum())} stars).</p>",
    )


def li_rich_section(c: Compared) -> Section:
    """Li-rich giant candidates from the predictions, and how many true ones they
    recover."""
    from . import science

    if not ("a_li" in c.names and "logg" in c.names):
        return Section(
            "Li-rich giants",
            "This catalogue has no a_li; train with a_li among the labels to search for them.",
        )
    true, pred = c.true, c.pred
    err = c.column("a_li_err")
    cand = science.li_rich_candidates(pred["a_li"], pred["logg"], err)
    injected = science.li_rich_candidates(true["a_li"], true["logg"])
    ids = np.asarray(c.table["id"]).astype(str)[c.found]
    rows = [
        [
            ids[i],
            pred["teff"][i] if "teff" in pred else np.nan,
            pred["logg"][i],
            pred["a_li"][i],
            err[i] if err is not None else np.nan,
            true["a_li"][i],
        ]
        for i in np.flatnonzero(cand)[:50]
    ]
    recovered = float(np.mean(cand[injected])) if injected.any() else float("nan")
    return Section(
        "Li-rich giants",
        "Giants (log g < 3.5) with predicted A(Li) > 2 and A(Li) uncertainty < 0.2 dex, the rare objects "
        "Ambrosch 2023 searched for; check the recovered share of the true ones.",
        html=f"<p>{int(cand.sum())} candidates; recovered {recovered:.0%} of the {int(injected.sum())} true Li-rich giants.</p>"
        + html_table(
            [
                "id",
                "Teff [K]",
                "log g [dex]",
                "A(Li) [dex]",
                "A(Li) err [dex]",
                "true A(Li) [dex]",
            ],
            rows,
        ),
    )
