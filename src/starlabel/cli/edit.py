"""``starlabel edit``: a star's spectrum redrawn with changed labels (autoencoder)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._app import Overwrite, console


def parse_set(items: list[str]) -> dict[str, float]:
    """``["teff=7500", "mg_fe=0"]`` -> ``{"teff": 7500.0, "mg_fe": 0.0}``."""
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise ValueError(
                f"--set: expected NAME=VALUE (e.g. teff=7500), got {item!r}"
            ) from None
    if not out:
        raise ValueError("--set: give at least one NAME=VALUE (e.g. --set teff=7500)")
    return out


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
    from ..models import EditedSpectrum, load
    from ..spectra import read_dataset

    new = parse_set(changes)
    check_output(output, overwrite=overwrite, suffixes=(".png",))
    model = load(model_dir)
    if model.kind != "gandalf":
        raise ValueError(
            f"{model_dir}: `edit` needs a gandalf model (train --model gandalf), not {model.kind}"
        )
    result: EditedSpectrum = model.edit(read_dataset(data), star, new)
    write_edited_spectrum(result, output)
    console.print(
        f"wrote {output}: {result.star_id}, "
        + ", ".join(f"{k} {result.labels[k]:g} -> {v:g}" for k, v in new.items())
        + f"; largest flux change {result.largest_change:.3f}"
    )
