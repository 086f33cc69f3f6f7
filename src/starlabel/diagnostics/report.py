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

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_path
from .._typing import PathLike
from .report_html import Section, html_page, html_table
from .report_outputs import explain_section, fits_section, map_section, tune_section
from .report_science import (
    Compared,
    disc_section,
    globular_section,
    kiel_section,
    li_rich_section,
    one_to_one_section,
    open_cluster_section,
    snr_section,
)
from .report_trust import calibration_section, leakage_section, ood_section

__all__ = ["SECTIONS", "write_report"]

SECTIONS = (
    "Summary",
    "One-to-one",
    "Uncertainties against S/N",
    "Calibration",
    "Out-of-distribution stars",
    "Own lines",
    "Kiel diagram",
    "Thin and thick disc",
    "Open clusters",
    "Globular clusters: Mg-Al",
    "Li-rich giants",
    "Per-star fits",
    "Saliency",
    "Similarity map",
)


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

    ref = read_dataset(truth)
    tables = [read_catalogue_table(c) for c in catalogues]
    summary, accuracy = _summary_section(catalogues, tables, ref)
    best = Compared.match(tables[int(np.argmin(accuracy))], ref)
    sections = [
        summary,
        one_to_one_section(best),
        snr_section(best),
        calibration_section(catalogues, tables, ref),
        ood_section(catalogues, tables, ref),
        leakage_section(catalogues, tables, ref),
        kiel_section(best),
        disc_section(best),
        open_cluster_section(best),
        globular_section(best),
        li_rich_section(best),
        fits_section(fits),
        explain_section(explain_dir),
        map_section(map_dir),
    ]
    if tune_dir is not None:
        sections.append(tune_section(tune_dir))
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        tmp.write_text(html_page(title, sections), encoding="utf-8")
    return out


def _summary_section(
    catalogues: Sequence[PathLike], tables: Sequence[Any], ref: Any
) -> tuple[Section, list[float]]:
    """The residual statistics of every catalogue and label, and each catalogue's
    accuracy (mean std / reference scatter over teff, logg and fe_h; inf without
    them)."""
    from .metrics import evaluate

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
    section = Section(
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
    return section, accuracy


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
