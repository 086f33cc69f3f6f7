"""``starlabel map``: similarity map (t-SNE) and training-like / unlike flags."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from ._app import Overwrite, console

MIN_TRAIN = 10  # as diagnostics.mapping.build_map requires


def map_(
    train: Annotated[
        Path, typer.Argument(help="Training spectra (.h5) that define the map.")
    ],
    data: Annotated[
        Path | None, typer.Argument(help="Spectra to place into the map (.h5).")
    ] = None,
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Folder for the map.")
    ] = Path("map"),
    perplexity: Annotated[float, typer.Option("--perplexity")] = 30.0,
    n_components: Annotated[
        int, typer.Option("--n-components", help="PCA components before t-SNE.")
    ] = 50,
    max_train: Annotated[
        int, typer.Option("--max-train", help="Training spectra used (random).")
    ] = 5000,
    colour: Annotated[
        str, typer.Option("--colour", help="Label colouring the training points.")
    ] = "teff",
    seed: Annotated[int, typer.Option("--seed")] = 0,
    overwrite: Annotated[bool, Overwrite] = False,
) -> None:
    """Similarity map (t-SNE) and training-like / unlike flags.

    Writes map.safetensors (reusable: `predict --map`), map.png, map.csv and summary.txt."""
    from ..diagnostics.mapping import build_map
    from ..errors import StarlabelInputError
    from ..spectra import read_dataset

    if not math.isfinite(perplexity) or perplexity <= 0:
        raise ValueError(
            f"--perplexity: give a number > 0 (about the number of close neighbours "
            f"of each spectrum; default 30), got {perplexity:g}"
        )
    if n_components < 1:
        raise ValueError(
            f"--n-components: give 1 or more PCA components, got {n_components}"
        )
    if max_train < MIN_TRAIN:
        raise ValueError(
            f"--max-train: a map needs at least {MIN_TRAIN} training spectra, "
            f"got {max_train}"
        )
    train_set = read_dataset(train)
    data_set = read_dataset(data) if data is not None else None
    if data_set is not None and data_set.n_spectra == 0:
        raise StarlabelInputError("0 spectra: nothing to place into the map", path=data)
    result = build_map(
        train_set,
        output,
        data_set,
        n_components=n_components,
        perplexity=perplexity,
        max_train=max_train,
        colour=colour,
        seed=seed,
        overwrite=overwrite,
        train_source=str(train),
        data_source=None if data is None else str(data),
    )
    console.print(
        result.summary.rstrip()
        + f"\nwrote {output}/ (map.safetensors, map.png, map.csv)"
    )
