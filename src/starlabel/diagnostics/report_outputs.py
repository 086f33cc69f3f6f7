"""The report's sections drawn from what other commands wrote: the per-star fits
(``starlabel refine --show``), saliency (``starlabel explain``), the similarity map
(``starlabel map``) and the hyperparameter search (``starlabel tune``). A missing
output gives a section that says so."""

from __future__ import annotations

import csv
import html
from pathlib import Path

from .._typing import PathLike
from ..spectra.labels import element_of
from .report_html import Section, file_png, html_table

__all__ = ["explain_section", "fits_section", "map_section", "tune_section"]


def fits_section(fits: PathLike | None) -> Section:
    """The best-fit spectra figure of ``starlabel refine --show``."""
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


def explain_section(explain_dir: PathLike | None) -> Section:
    """The saliency figures and line table of ``starlabel explain``."""
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
    shares = own_line_shares(rows[0], rows[1:])
    return Section(
        "Saliency",
        caption + (f" {shares}" if shares else ""),
        images,
        html_table(rows[0], rows[1:]),
    )


def own_line_shares(header: list[str], rows: list[list[str]]) -> str:
    """A sentence: for each abundance, how many of its saliency peaks lie on its
    own element's lines, and the abundances that draw on none of them."""
    col = {name: k for k, name in enumerate(header)}
    peaks: dict[str, list[str]] = {}
    for row in rows:
        peaks.setdefault(row[col["label"]], []).append(row[col["species"]])
    parts, none = [], []
    for label, species in peaks.items():
        element = element_of(label)
        if element is None:
            continue
        hits = sum(s == element for s in species)
        parts.append(f"{label} {hits} of {len(species)} on {element} lines")
        if (
            hits == 0 and element != "Fe"
        ):  # [Fe/H] rests on the metallicity of all lines
            none.append(f"{label} on no {element} line")
    if not parts:
        return ""
    text = "Own-element share of each abundance's peaks: " + ", ".join(parts) + "."
    if none:
        text += (
            " Peaks " + ", ".join(none) + ": such a label is read from other "
            "elements' lines (the training set's correlations), not measured."
        )
    return text


def tune_section(tune_dir: PathLike) -> Section:
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


def map_section(map_dir: PathLike | None) -> Section:
    """The similarity map of ``starlabel map`` and its summary."""
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
