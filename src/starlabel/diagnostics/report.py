"""``starlabel report``: one self-contained HTML file (images embedded as base64).

Sections: metrics of every catalogue; one-to-one; residuals and uncertainties
against S/N; calibration of every catalogue (reliability diagram before and after
recalibration, z-scores, bins); out-of-distribution stars of every catalogue
(``ood_score`` histogram, ROC where the truth says which stars to distrust); Kiel diagram; [Mg/Fe]-[Fe/H] with the
discs split by HDBSCAN; open-cluster spreads; globular-cluster Mg-Al; Li-rich
giants; saliency (from ``starlabel explain``); similarity map (from ``starlabel
map``). A section whose inputs are missing says so instead of vanishing.
"""

from __future__ import annotations

import csv
import html
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .._atomic import atomic_path
from .._typing import PathLike
from .report_html import Section, file_png, html_page, html_table, png
from .report_trust import calibration_section, ood_section

__all__ = ["SECTIONS", "write_report"]

SECTIONS = (
    "Summary",
    "One-to-one",
    "Uncertainties against S/N",
    "Calibration",
    "Out-of-distribution stars",
    "Kiel diagram",
    "Thin and thick disc",
    "Open clusters",
    "Globular clusters: Mg-Al",
    "Li-rich giants",
    "Per-star fits",
    "Saliency",
    "Similarity map",
)


def _col(table, name: str, rows: np.ndarray) -> np.ndarray | None:
    if name not in table.colnames:
        return None
    return np.asarray(table[name], dtype=float)[rows]


def write_report(
    catalogues: Sequence[PathLike],
    truth: PathLike,
    output: PathLike,
    *,
    explain_dir: PathLike | None = None,
    map_dir: PathLike | None = None,
    fits: PathLike | None = None,
    tune_dir: PathLike | None = None,
    title: str = "starlabel report",
) -> Path:
    """Write the report for ``catalogues`` compared with the reference dataset
    ``truth``. The science sections (one-to-one onwards) are drawn from the most
    accurate catalogue: the lowest mean of std / reference scatter over teff, logg
    and fe_h (the labels they share); the summary says which."""
    from ..inference.catalogue import read_catalogue_table
    from ..spectra.io.hdf5 import read_dataset
    from . import science
    from .metrics import evaluate, match_truth
    from .plots import science as sp
    from .plots.evaluation import plot_one_to_one

    ref = read_dataset(truth)
    tables = [read_catalogue_table(c) for c in catalogues]
    sections: list[Section] = []

    # --- summary
    rows = []
    accuracy = []
    for path, t in zip(catalogues, tables, strict=True):
        ms = evaluate(t, ref)
        rel = [
            m.std / np.nanstd(ref.labels[m.name])
            for m in ms
            if m.name in ("teff", "logg", "fe_h") and np.nanstd(ref.labels[m.name]) > 0
        ]
        accuracy.append(float(np.mean(rel)) if rel else np.inf)
        for m in ms:
            rows.append(
                [
                    Path(path).name,
                    m.name,
                    m.unit,
                    m.n,
                    m.bias,
                    m.std,
                    m.p15,
                    m.p85,
                    m.z_std,
                    m.coverage_68,
                ]
            )
    sections.append(
        Section(
            "Summary",
            "Residual statistics (predicted - reference) per catalogue and label; z std near 1 and 68 % coverage "
            "near 0.68 mean honest uncertainties.",
            html=_best_note(catalogues, accuracy)
            + html_table(
                [
                    "catalogue",
                    "label",
                    "unit",
                    "N",
                    "bias",
                    "std",
                    "p15",
                    "p85",
                    "z std",
                    "cov. 68",
                ],
                rows,
            ),
        )
    )

    table = tables[int(np.argmin(accuracy))]
    hit = match_truth(table, ref)
    found = hit >= 0
    r = hit[found]
    metrics = evaluate(table, ref)
    names = [m.name for m in metrics]
    units = [m.unit for m in metrics]
    true = {n: ref.labels[n][r] for n in names}
    pred = {n: _col(table, n, found) for n in names}
    sections.append(
        Section(
            "One-to-one",
            "Predicted against reference label (colour: star density); points should hug the red line, "
            "the box gives bias, std and the 15th/85th percentiles of the residuals.",
            [
                png(
                    plot_one_to_one(
                        [true[n] for n in names], [pred[n] for n in names], metrics
                    )[0]
                )
            ],
        )
    )
    snr = ref.meta["snr"][r].astype(float) if "snr" in ref.meta else ref[r].snr()
    errors = []
    for n in names:
        e = {}
        for kind, suffix in (
            ("total", "_err"),
            ("internal", "_err_int"),
            ("external", "_err_ext"),
        ):
            v = _col(table, n + suffix, found)
            if v is not None and np.isfinite(v).any():
                e[kind] = v
        errors.append(e)
    sections.append(
        Section(
            "Uncertainties against S/N",
            "Robust residual scatter (black) and median predicted uncertainties per S/N bin: the total should "
            "follow the black line; the external (noise) part should fall with S/N, the internal (model) part "
            "stays where the training set is sparse.",
            [
                png(
                    sp.plot_uncertainty_vs_snr(
                        snr, [pred[n] - true[n] for n in names], errors, names, units
                    )[0]
                )
            ],
        )
    )
    sections.append(calibration_section(catalogues, tables, ref))
    sections.append(ood_section(catalogues, tables, ref))

    if all(n in names for n in ("teff", "logg", "fe_h")):
        sections.append(
            Section(
                "Kiel diagram",
                "log g against Teff coloured by [Fe/H], truth (left) and prediction (right): the main sequence, "
                "turn-off and giant branch should be as sharp, and the metal-poor giants as blue, on both sides.",
                [png(sp.plot_kiel(true, pred)[0])],
            )
        )
    else:
        sections.append(
            Section("Kiel diagram", "Needs teff, logg and fe_h in the catalogue.")
        )

    pops = ref.meta["population"][r].astype(str) if "population" in ref.meta else None
    if "fe_h" in names and "mg_fe" in names:
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
        sections.append(
            Section(
                "Thin and thick disc",
                "[Mg/Fe] against [Fe/H] with the two discs found by HDBSCAN (blue thin, red thick, grey noise): "
                "the high-alpha sequence should separate as clearly in the predictions as in the truth.",
                [png(sp.plot_disc_plane(true, pred, st.assignment, spd.assignment)[0])],
                f"<p>{html.escape(text)}</p>",
            )
        )
    else:
        sections.append(
            Section("Thin and thick disc", "Needs fe_h and mg_fe in the catalogue.")
        )

    clusters = ref.meta["cluster"][r].astype(str) if "cluster" in ref.meta else None
    oc = (pops == "open_cluster") if pops is not None else None
    abundances = [n for n in names if n.endswith("_fe") or n.endswith("_h")]
    if clusters is not None and oc is not None and oc.any() and abundances:
        spreads, rows = {}, []
        for n in abundances:
            a = science.cluster_spreads(clusters[oc], true[n][oc])
            b = science.cluster_spreads(clusters[oc], pred[n][oc])
            spreads[n] = {c: (a[c][1], b[c][1]) for c in a if c in b}
            rows += [[n, c, a[c][0], a[c][1], b[c][1]] for c in spreads[n]]
        sections.append(
            Section(
                "Open clusters",
                "Abundance spread (std) inside each open cluster, truth against prediction: clusters are "
                "chemically homogeneous, so a small predicted spread means precise labels.",
                [png(sp.plot_cluster_spreads(spreads)[0])],
                html_table(
                    ["label", "cluster", "N", "true std [dex]", "predicted std [dex]"],
                    rows,
                ),
            )
        )
    else:
        sections.append(
            Section(
                "Open clusters", "No open-cluster members with abundances in this set."
            )
        )

    gc = (pops == "globular_cluster") if pops is not None else None
    if gc is not None and gc.sum() >= 3 and "mg_fe" in names and "al_fe" in names:
        rt = science.pearson_r(true["mg_fe"][gc], true["al_fe"][gc])
        rp = science.pearson_r(pred["mg_fe"][gc], pred["al_fe"][gc])
        sections.append(
            Section(
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
        )
    else:
        sections.append(
            Section(
                "Globular clusters: Mg-Al",
                "Needs mg_fe, al_fe and globular-cluster members.",
            )
        )

    if "a_li" in names and "logg" in names:
        err = _col(table, "a_li_err", found)
        cand = science.li_rich_candidates(pred["a_li"], pred["logg"], err)
        injected = science.li_rich_candidates(true["a_li"], true["logg"])
        ids = np.asarray(table["id"]).astype(str)[found]
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
        sections.append(
            Section(
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
        )
    else:
        sections.append(
            Section(
                "Li-rich giants",
                "This catalogue has no a_li; train with a_li among the labels to search for them.",
            )
        )

    sections.append(_fits_section(fits))
    sections.append(_explain_section(explain_dir))
    sections.append(_map_section(map_dir))
    if tune_dir is not None:
        sections.append(_tune_section(tune_dir))
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        tmp.write_text(html_page(title, sections), encoding="utf-8")
    return out


def _best_note(catalogues: Sequence[PathLike], accuracy: Sequence[float]) -> str:
    best = int(np.argmin(accuracy))
    others = ", ".join(
        f"{Path(c).name} {a:.3f}"
        for i, (c, a) in enumerate(zip(catalogues, accuracy, strict=True))
        if i != best and np.isfinite(a)
    )
    return (
        f"<p>The science sections below (one-to-one onwards) use <b>{html.escape(Path(catalogues[best]).name)}</b>, "
        f"the most accurate catalogue: mean std / reference scatter over teff, logg and fe_h "
        f"{accuracy[best]:.3f} (1 = no better than the mean)"
        + (f"; the others: {html.escape(others)}" if others else "")
        + ".</p>"
    )


def _fits_section(fits: PathLike | None) -> Section:
    if fits is None or not Path(fits).exists():
        return Section(
            "Per-star fits",
            "No best-fit spectra given (--fits, from `starlabel refine --show`).",
        )
    return Section(
        "Per-star fits",
        "Observed spectrum (grey) and the emulator at the refined labels (red), with the residual and the "
        "+-1 sigma noise band below: a good fit leaves residuals inside the band; lines the emulator cannot "
        "reproduce point to a star it does not describe (binary, emission, bad reduction).",
        [file_png(Path(fits))],
    )


def _explain_section(explain_dir: PathLike | None) -> Section:
    caption = (
        "Mean |d label / d flux| under the median spectrum, the strongest peaks marked with the nearest line: "
        "an abundance should rely on its own element's lines."
    )
    if explain_dir is None or not (Path(explain_dir) / "saliency_lines.csv").exists():
        return Section(
            "Saliency", "No `starlabel explain` output given (--explain DIR)."
        )
    d = Path(explain_dir)
    images = [file_png(p) for p in sorted(d.glob("saliency_*.png"))]
    with open(d / "saliency_lines.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return Section("Saliency", caption, images, html_table(rows[0], rows[1:]))


def _tune_section(tune_dir: PathLike) -> Section:
    """``starlabel tune`` output: the summary, the plots and the ten best trials."""
    d = Path(tune_dir)
    if not (d / "trials.csv").exists():
        return Section("Hyperparameter search", f"No `starlabel tune` output in {d}.")
    with open(d / "trials.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    done = sorted(
        (r for r in rows if r.get("state") == "COMPLETE" and r.get("value")),
        key=lambda r: float(r["value"]),
    )[:10]
    params = [c for c in (rows[0] if rows else {}) if c.startswith("params_")]
    header = ["trial", "value", "epochs", *(p.removeprefix("params_") for p in params)]
    table = [
        [r["number"], f"{float(r['value']):.5g}", r.get("epochs", "")]
        + [_short(r[p]) for p in params]
        for r in done
    ]
    summary = (
        (d / "summary.txt").read_text(encoding="utf-8")
        if (d / "summary.txt").exists()
        else ""
    )
    images = [
        file_png(d / n)
        for n in ("history.png", "importances.png", "parallel.png")
        if (d / n).exists()
    ]
    return Section(
        "Hyperparameter search",
        "Optuna's search over the model's hyperparameters (`starlabel tune`): the objective of each trial "
        "(lower is better), which parameters mattered, and the ten best trials; `best.toml` in the same "
        "folder trains the best one.",
        images,
        f"<pre>{html.escape(summary)}</pre>" + html_table(header, table),
    )


def _short(text: str) -> str:
    try:
        return f"{float(text):.4g}"
    except ValueError:
        return text


def _map_section(map_dir: PathLike | None) -> Section:
    if map_dir is None or not (Path(map_dir) / "map.png").exists():
        return Section("Similarity map", "No `starlabel map` output given (--map DIR).")
    d = Path(map_dir)
    text = (
        (d / "summary.txt").read_text(encoding="utf-8")
        if (d / "summary.txt").exists()
        else ""
    )
    return Section(
        "Similarity map",
        "t-SNE map of the training spectra (grey) with the predicted stars placed into it: red crosses are "
        "unlike any training spectrum, so their labels are extrapolations.",
        [file_png(d / "map.png")],
        f"<pre>{html.escape(text)}</pre>",
    )
