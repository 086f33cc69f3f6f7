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
    from ..errors import StarlabelInputError
    from ..models import SaliencyEstimator, load
    from ..spectra import read_dataset

    if n_stars < 1:
        raise ValueError(f"--n-stars: give 1 or more spectra to average, got {n_stars}")
    if top < 1:
        raise ValueError(f"--top: give 1 or more peaks per label, got {top}")
    if not np.isfinite(tolerance) or tolerance < 0:
        raise ValueError(
            f"--tolerance: give a peak-to-line distance >= 0 Angstrom, got {tolerance:g}"
        )
    model = load(model_dir)
    if not isinstance(model, SaliencyEstimator):
        raise StarlabelInputError(
            "an emulator maps labels to a spectrum, so the saliency of labels on "
            "flux is not defined for it; explain a cnn, cinn or gandalf model",
            path=model_dir,
        )
    spectra = read_dataset(data)
    if not (spectra.ivar > 0).any(axis=1).any():
        raise StarlabelInputError(
            "no spectrum has an unmasked pixel (ivar > 0): nothing to explain",
            path=data,
        )
    res = run(
        model,
        spectra,
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
