"""The report's two sections on whether a catalogue's numbers can be trusted, one
part per catalogue:

* **Calibration**: the reliability diagram (nominal against empirical coverage of
  Gaussian intervals, before recalibration from ``_err_raw`` dashed, after from
  ``_err`` solid), the z = residual / ``_err`` histograms, and the z std and
  coverage per label overall and per S/N and Teff bin.
* **Out-of-distribution stars**: the ``ood_score`` histogram of flagged (> 1) and
  unflagged stars, and, where the truth says which stars the model should not trust,
  its ROC: stars whose reference labels lie outside the model's training range
  (the range is in the catalogue header, ``SLRNGn``), and stars the model labelled
  badly (a residual beyond 3 robust standard deviations of that label's residuals in
  any label).
* **Own lines**: per abundance, the slope of the prediction on its own truth with
  the other labels held fixed, the top leak and the slope the Cramer-Rao bound
  allows (:mod:`starlabel.diagnostics.leakage`); a label under half the allowed
  slope is said to be the population's prior, not a measurement.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..spectra.container import Spectra
from .calibration import LEVELS, coverage_gaussian
from .metrics import binned_calibration, match_truth
from .report_html import Section, html_table, png

__all__ = [
    "calibration_section",
    "leakage_section",
    "ood_section",
    "training_ranges",
]

#: A residual beyond this many robust standard deviations makes a star "badly labelled".
BAD_LABEL_SIGMA = 3.0


def _name(path: Any, table: Any) -> str:
    model = str(table.meta.get("SLMODEL", "")).strip()
    return f"{Path(path).name}" + (f" ({model})" if model else "")


def _img(b64: str, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{b64}">'


def _columns(
    table: Any, names: Sequence[str], suffix: str, rows: np.ndarray
) -> np.ndarray:
    cols = [
        np.asarray(table[n + suffix], dtype=float)[rows]
        if n + suffix in table.colnames
        else np.full(int(rows.sum()), np.nan)
        for n in names
    ]
    return np.stack(cols, axis=1)


def _labels(table: Any, ref: Spectra) -> list[str]:
    return [n for n in ref.label_names if n in table.colnames]


def calibration_section(
    catalogues: Sequence[Any], tables: Sequence[Any], ref: Spectra
) -> Section:
    """Reliability diagram, z histograms and the binned table of every catalogue."""
    from .plots.evaluation import plot_coverage, plot_reliability
    from .plots.science import plot_zscores

    parts = []
    for path, table in zip(catalogues, tables, strict=True):
        name = _name(path, table)
        names = [n for n in _labels(table, ref) if f"{n}_err" in table.colnames]
        if not names:
            parts.append(
                f"<h3>{html.escape(name)}</h3><p>No uncertainties: nothing to calibrate.</p>"
            )
            continue
        hit = match_truth(table, ref)
        found = hit >= 0
        value = _columns(table, names, "", found)
        truth = np.stack([ref.labels[n][hit[found]] for n in names], axis=1)
        sigma = _columns(table, names, "_err", found)
        after = coverage_gaussian(value, sigma, truth)
        if all(f"{n}_err_raw" in table.colnames for n in names):
            raw = _columns(table, names, "_err_raw", found)
            before = coverage_gaussian(value, raw, truth)
            before[:, ~np.isfinite(raw).any(axis=0)] = np.nan
            fig, _ = plot_reliability(LEVELS, before, after, names)
        else:
            fig, _ = plot_coverage(
                LEVELS, after, names, title="coverage of value +- z err (no _err_raw)"
            )
        z = [(value[:, k] - truth[:, k]) / sigma[:, k] for k in range(len(names))]
        rows = [
            [
                b.name,
                b.bin,
                b.n,
                b.z_std,
                b.coverage_68,
                b.coverage_95,
                b.z_std_raw,
                b.coverage_68_raw,
            ]
            for b in binned_calibration(table, ref)
            if b.n >= 20
        ]
        parts.append(
            f"<h3>{html.escape(name)}</h3>"
            + _img(png(fig), f"reliability {name}")
            + _img(png(plot_zscores(z, names)[0]), f"z scores {name}")
            + html_table(
                [
                    "label",
                    "bin",
                    "N",
                    "z std",
                    "cov. 68",
                    "cov. 95",
                    "z std (_err_raw)",
                    "cov. 68 (_err_raw)",
                ],
                rows,
            )
        )
    return Section(
        "Calibration",
        "Per catalogue. Reliability diagram: share of stars whose truth lies in the central interval "
        "value +- z _err against its nominal probability; on the diagonal is calibrated, below it the errors are "
        "too small. Dashed: the model's raw error (_err_raw), solid: after the recalibration fitted on the "
        "validation stars. The histograms compare z = residual / _err with N(0, 1); the table gives z std and "
        "coverage per S/N and Teff bin (bins with >= 20 stars).",
        html="".join(parts),
    )


def training_ranges(table: Any) -> dict[str, tuple[float, float]]:
    """The training label ranges a catalogue's header records (``SLRNGn`` =
    ``"name lo hi"``); empty for older catalogues."""
    out = {}
    for key, value in table.meta.items():
        if str(key).upper().startswith("SLRNG"):
            try:
                name, lo, hi = str(value).split()
                out[name] = (float(lo), float(hi))
            except ValueError:
                continue
    return out


def _positives(table: Any, ref: Spectra, hit: np.ndarray) -> dict[str, np.ndarray]:
    found = hit >= 0
    sets: dict[str, np.ndarray] = {}
    ranges = training_ranges(table)
    outside = np.zeros(int(found.sum()), dtype=bool)
    for name, (lo, hi) in ranges.items():
        if name in ref.labels:
            t = ref.labels[name][hit[found]]
            outside |= np.isfinite(t) & ((t < lo) | (t > hi))
    if ranges:
        sets["reference labels outside the training range"] = outside
    bad = np.zeros(int(found.sum()), dtype=bool)
    for name in _labels(table, ref):
        res = np.asarray(table[name], dtype=float)[found] - ref.labels[name][hit[found]]
        ok = np.isfinite(res)
        if ok.sum() < 20:
            continue
        scale = 1.4826 * np.median(np.abs(res[ok] - np.median(res[ok])))
        bad |= ok & (np.abs(res - np.median(res[ok])) > BAD_LABEL_SIGMA * scale)
    sets[f"badly labelled (a residual > {BAD_LABEL_SIGMA:g} robust std)"] = bad
    return sets


def ood_section(
    catalogues: Sequence[Any], tables: Sequence[Any], ref: Spectra
) -> Section:
    """``ood_score`` histogram and ROC curves of every catalogue that has one."""
    from sklearn.metrics import roc_auc_score, roc_curve

    from .plots.ood import plot_ood

    parts = []
    for path, table in zip(catalogues, tables, strict=True):
        name = _name(path, table)
        if "ood_score" not in table.colnames:
            parts.append(
                f"<h3>{html.escape(name)}</h3><p>No ood_score column (a catalogue from before starlabel 0.1's OOD score).</p>"
            )
            continue
        score = np.asarray(table["ood_score"], dtype=float)
        hit = match_truth(table, ref)
        found = hit >= 0
        s = score[found]
        rocs, rows = {}, []
        for label, pos in _positives(table, ref, hit).items():
            ok = np.isfinite(s)
            n_pos, n_neg = int((pos & ok).sum()), int((~pos & ok).sum())
            flagged = s > 1
            rows.append(
                [
                    label,
                    n_pos,
                    float(flagged[pos & ok].mean()) if n_pos else float("nan"),
                    float(flagged[~pos & ok].mean()) if n_neg else float("nan"),
                    float(roc_auc_score(pos[ok], s[ok]))
                    if n_pos >= 5 and n_neg >= 5
                    else float("nan"),
                ]
            )
            if n_pos >= 5 and n_neg >= 5:
                fpr, tpr, _ = roc_curve(pos[ok], s[ok])
                rocs[label] = (fpr, tpr, rows[-1][-1])
        n_flag = int(np.nansum(score > 1))
        fig, _ = plot_ood(score, rocs)
        parts.append(
            f"<h3>{html.escape(name)}</h3>"
            f"<p>{n_flag} of {score.size} stars flagged ({n_flag / max(score.size, 1):.1%}); "
            "a ROC needs at least 5 stars on each side.</p>"
            + _img(png(fig), f"ood {name}")
            + html_table(
                [
                    "stars the model should not trust",
                    "N",
                    "flagged share",
                    "flagged share of the others",
                    "AUROC",
                ],
                rows,
            )
        )
    return Section(
        "Out-of-distribution stars",
        "ood_score combines the distance of a star to the training set in the model's learned features and in "
        "label space with the model's own doubt (ensemble spread, posterior width, reconstruction error); each "
        "signal is standardised on the validation stars and the threshold (ood_score = 1, flag 64) is set so "
        "that 1.5 % of held-out training stars are flagged (<= 2 % of new in-distribution stars). Where the truth is known, the ROC shows how well "
        "the score picks out stars beyond the training labels and stars the model labelled badly.",
        html="".join(parts),
    )


def leakage_section(
    catalogues: Sequence[Any], tables: Sequence[Any], ref: Spectra
) -> Section:
    """Per catalogue: does each abundance follow its own truth?"""
    from .report_eval import catalogue_leakage

    parts = []
    for path, table in zip(catalogues, tables, strict=True):
        rows = catalogue_leakage(table, ref, match_truth(table, ref))
        if not rows:
            continue
        priors = [r.name for r in rows if r.verdict == "prior"]
        verdict = (
            f"<p><b>{html.escape(', '.join(priors))}: the training population's "
            "prior, not a measurement</b> (slope on the own truth under half the "
            "allowed one).</p>"
            if priors
            else ""
        )
        parts.append(
            f"<h3>{html.escape(_name(path, table))}</h3>"
            + verdict
            + html_table(
                [
                    "label",
                    "N",
                    "slope",
                    "+-",
                    "allowed",
                    "top leak",
                    "leak",
                    "+-",
                    "verdict",
                ],
                [
                    [
                        r.name,
                        r.n,
                        r.slope,
                        r.slope_err,
                        r.allowed,
                        r.leak_label,
                        r.leak,
                        r.leak_err,
                        r.verdict,
                    ]
                    for r in rows
                ],
            )
        )
    return Section(
        "Own lines",
        "Does each abundance follow its own element? The prediction is regressed on "
        "every reference label at once: slope = change of the prediction per change "
        "of the star's own abundance with the others fixed (1 = fully); leak = the "
        "largest slope on another label, in units of the abundance's spread per that "
        "label's spread; allowed = what an estimator at the Cramer-Rao bound reaches, "
        "s^2 / (s^2 + CRLB^2) (nan: the reference has no bounds). On a reference whose "
        "abundances follow the training correlations the slopes are uncertain (the "
        "labels are collinear); a test set with independent abundances (starlabel "
        "synth --population decorrelated) separates them.",
        html="".join(parts)
        or "<p>No abundance in both the catalogues and the reference.</p>",
    )
