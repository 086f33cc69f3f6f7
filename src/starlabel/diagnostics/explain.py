"""``starlabel explain``: saliency of every label, the lines behind it, figures and tables."""

from __future__ import annotations

import csv
import io
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_path, check_output_dir
from .._staging import staged_dir
from ..spectra.labels import label_spec
from .saliency import Peak, line_peaks, own_element_fraction, saliency

__all__ = ["ExplainResult", "explain"]


@dataclass
class ExplainResult:
    """Per label: mean signed and absolute saliency, peaks, own-element fractions."""

    wavelength: np.ndarray
    labels: tuple[str, ...]
    signed: np.ndarray  # (n_labels, n_pixels)
    absolute: np.ndarray
    peaks: dict[str, list[Peak]]
    own_fraction: dict[str, tuple[float, float]] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)

    def own_shares(self, labels: Collection[str] | None = None) -> str:
        """``"mg_fe 40% (chance 0%), ..."``: each abundance's share of peaks on its
        own element's lines and the share expected by chance (of ``labels`` only,
        when given)."""
        return ", ".join(
            f"{k} {hit:.0%} (chance {chance:.0%})"
            for k, (hit, chance) in self.own_fraction.items()
            if np.isfinite(hit) and (labels is None or k in labels)
        )


def _write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def explain(
    model: Any,
    spectra,
    out_dir: str | Path,
    *,
    n_stars: int = 200,
    top: int = 10,
    tolerance: float = 0.25,
    seed: int = 0,
    progress=None,
    overwrite: bool = False,
) -> ExplainResult:
    """Saliency of ``model`` on up to ``n_stars`` spectra (random, seeded); writes
    ``saliency.csv`` (profiles), ``saliency_lines.csv`` (peaks and lines) and one
    ``saliency_<label>.png`` per label into ``out_dir``, which must be new, empty,
    or (with ``overwrite``) an earlier output of starlabel; the folder appears
    complete or not at all."""
    from ..spectra.preprocess import dense_flux
    from ..synth.atoms import load_linelist

    if n_stars < 1:
        raise ValueError(f"n_stars: expected >= 1, got {n_stars}")
    if top < 1:
        raise ValueError(f"top: expected >= 1, got {top}")
    if not tolerance >= 0:  # NaN too
        raise ValueError(f"tolerance: expected >= 0 Angstrom, got {tolerance}")
    model.check_grid(spectra)
    out = check_output_dir(out_dir, overwrite=overwrite, command="explain")
    flux, dead = dense_flux(spectra)
    rows = np.flatnonzero(~dead)
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(rows, size=min(n_stars, rows.size), replace=False))
    grads = saliency(model.label_function(), flux[rows], progress=progress)
    wl = spectra.wavelength_aa
    lines = load_linelist().in_range(wl[0], wl[-1], 1.0)
    names = tuple(model.label_names_)
    res = ExplainResult(wl, names, grads.mean(axis=1), np.abs(grads).mean(axis=1), {})
    median = np.median(flux[rows], axis=0)
    for k, name in enumerate(names):
        peaks = line_peaks(
            wl, res.absolute[k], res.signed[k], lines, top=top, tolerance=tolerance
        )
        res.peaks[name] = peaks
        res.own_fraction[name] = own_element_fraction(name, peaks, wl, lines, tolerance)
    with staged_dir(out, command="explain") as stage:
        files = _write_files(stage, res, median)
    res.files = [out / f.relative_to(stage) for f in files]
    return res


def _write_files(out: Path, res: ExplainResult, median: np.ndarray) -> list[Path]:
    """The figures and tables of ``res`` in folder ``out``."""
    from .plots.saliency import plot_saliency

    wl, names, files = res.wavelength, res.labels, []
    for k, name in enumerate(names):
        fig, _ = plot_saliency(
            wl,
            median,
            res.absolute[k],
            res.signed[k],
            res.peaks[name],
            name,
            label_spec(name).unit,
        )
        path = out / f"saliency_{name}.png"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=90, format="png")
        files.append(path)
    import matplotlib.pyplot as plt

    plt.close("all")
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(
        ["wavelength_aa", *(f"{n}_{kind}" for n in names for kind in ("signed", "abs"))]
    )
    for i in range(wl.size):
        w.writerow(
            [
                f"{wl[i]:.4f}",
                *(
                    f"{a[k, i]:.6g}"
                    for k in range(len(names))
                    for a in (res.signed, res.absolute)
                ),
            ]
        )
    _write_text(out / "saliency.csv", buf.getvalue())
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(
        [
            "label",
            "rank",
            "wavelength_aa",
            "strength",
            "sign",
            "species",
            "ion",
            "line_wavelength_aa",
        ]
    )
    for name, peaks in res.peaks.items():
        for r, p in enumerate(peaks, 1):
            w.writerow(
                [
                    name,
                    r,
                    f"{p.wavelength:.3f}",
                    f"{p.strength:.4g}",
                    p.sign,
                    p.species,
                    p.ion or "",
                    f"{p.line_wavelength:.3f}",
                ]
            )
    _write_text(out / "saliency_lines.csv", buf.getvalue())
    return [*files, out / "saliency.csv", out / "saliency_lines.csv"]
