"""``starlabel edit``: a star's spectrum redrawn with changed labels (autoencoder)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._app import Overwrite, console, parse_assignments


def edit(
    model_dir: Annotated[Path, typer.Argument(help="A gandalf model directory.")],
    data: Annotated[Path, typer.Argument(help="Dataset holding the star (.h5).")],
    star: Annotated[str, typer.Option("--id", help="The star's id.")],
    changes: Annotated[
        list[str], typer.Option("--set", help="New labels: --set teff=7500 mg_fe=0.0")
    ],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Figure (.png).")
    ] = Path("edited.png"),
    overwrite: Annotated[bool, Overwrite] = False,
) -> None:
    """Regenerate a star's spectrum with changed labels (disentangling autoencoder).

    Plots the observed spectrum, its reconstruction and the edited spectrum."""
    from .._atomic import check_output
    from ..diagnostics.plots.latent import write_edited_spectrum
    from ..errors import StarlabelInputError
    from ..models import EditedSpectrum, EditingEstimator, load
    from ..spectra import read_dataset

    new = parse_assignments(changes, "--set", example="teff=7500", required=True)
    check_output(output, overwrite=overwrite, suffixes=(".png",))
    model = load(model_dir)
    if not isinstance(model, EditingEstimator):
        raise ValueError(
            f"{model_dir}: `edit` needs a gandalf model (train --model gandalf), not {model.kind}"
        )
    try:
        result: EditedSpectrum = model.edit(read_dataset(data), star, new)
    except StarlabelInputError as exc:  # the model knows the star, not the file
        raise exc.with_context(path=data) from None
    write_edited_spectrum(result, output)
    console.print(
        f"wrote {output}: {result.star_id}, "
        + ", ".join(f"{k} {result.labels[k]:g} -> {v:g}" for k, v in new.items())
        + f"; largest flux change {result.largest_change:.3f}"
    )
