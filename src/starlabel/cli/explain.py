"""``starlabel explain``: saliency maps and the lines each label relies on."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from ._app import Overwrite, console


def explain(
    model_dir: Annotated[
        Path, typer.Argument(help="Model directory (cnn, cinn or gandalf).")
    ],
    data: Annotated[Path, typer.Argument(help="Spectra to explain (.h5).")],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Folder for figures and tables.")
    ],
    n_stars: Annotated[
        int, typer.Option("--n-stars", help="Spectra averaged (random).")
    ] = 200,
    top: Annotated[int, typer.Option("--top", help="Peaks per label.")] = 10,
    tolerance: Annotated[
        float, typer.Option("--tolerance", help="Peak-to-line match [Angstrom].")
    ] = 0.25,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    overwrite: Annotated[bool, Overwrite] = False,
) -> None:
    """Saliency maps and the spectral lines each label relies on."""
    from ..diagnostics.explain import explain as run
    from ..models import load
    from ..spectra import read_dataset

    res = run(
        load(model_dir),
        read_dataset(data),
        output,
        n_stars=n_stars,
        top=top,
        tolerance=tolerance,
        seed=seed,
        overwrite=overwrite,
    )
    for name, peaks in res.peaks.items():
        hits = [f"{p.species} {p.line_wavelength:.2f}" for p in peaks if p.species]
        own, chance = res.own_fraction[name]
        extra = (
            f"; own-element share {own:.0%} (chance {chance:.0%})"
            if np.isfinite(own)
            else ""
        )
        console.print(
            f"{name}: {', '.join(hits[:6]) or 'no line within tolerance'}{extra}"
        )
    console.print(f"wrote {len(res.files)} files to {output}/")
