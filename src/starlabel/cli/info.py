"""``starlabel info``: summarise a dataset file or a model directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.markup import escape
from rich.table import Table

from ._app import console


def info(
    path: Annotated[
        Path, typer.Argument(help="A dataset file (.h5) or a model directory.")
    ],
) -> None:
    """Summarise a dataset (counts, wavelength range, label ranges, S/N quartiles) or a model."""
    if path.is_dir():
        print_model(path)
    else:
        print_dataset(path)


def print_model(path: Path) -> None:
    """The facts of any model directory (``model.summary()``)."""
    from ..models import load

    facts = load(path).summary()
    console.print(f"[bold]{escape(str(path))}[/]: {escape(facts.pop('kind'))}")
    for key, value in facts.items():
        console.print(f"  {key}: {escape(value)}", highlight=False)


def print_dataset(path: Path) -> None:
    """Counts, grid, S/N, labels and flags of a dataset file."""
    from ..spectra.summary import summarise_dataset

    s = summarise_dataset(path)
    console.print(
        f"[bold]{escape(str(s.path))}[/]: {s.n_spectra} spectra x {s.n_pixels} pixels, "
        f"{s.medium} wavelengths, {'rest frame' if s.rest_frame else 'observed frame'}"
        + (f", setup {s.setup}" if s.setup else "")
    )
    for lo, hi, n in s.segments:
        console.print(
            f"  wavelength {lo:.2f}-{hi:.2f} Angstrom ({n} px, {(hi - lo) / max(n - 1, 1):.4f} A/px)"
        )
    q = s.snr_quartiles
    masked = f"masked pixels {100 * s.masked_fraction:.2f} %"
    if s.n_spectra and s.n_fully_masked == s.n_spectra:
        console.print(
            f"  S/N undefined: every pixel of every spectrum is masked; {masked}",
            highlight=False,
        )
    else:
        text = (
            f"  S/N per pixel quartiles: {q[0]:.1f} / {q[1]:.1f} / {q[2]:.1f}"
            if np.all(np.isfinite(q))
            else "  S/N unknown"
        )
        if s.n_fully_masked:
            text += (
                f" ({s.n_fully_masked} spectra fully masked, S/N undefined: left out)"
            )
        console.print(f"{text}; {masked}", highlight=False)
    if s.labels:
        t = Table("label", "unit", "known", "min", "median", "max")
        for lab in s.labels:
            t.add_row(
                lab.name,
                lab.unit,
                f"{lab.n_known}/{s.n_spectra}",
                f"{lab.minimum:.4g}",
                f"{lab.median:.4g}",
                f"{lab.maximum:.4g}",
            )
        console.print(t)
    else:
        console.print("  no labels")
    if s.flag_counts:
        console.print(
            "  flags: " + ", ".join(f"{k} {v}" for k, v in s.flag_counts.items())
        )
