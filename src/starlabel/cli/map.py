"""``starlabel map``: similarity map (t-SNE) and training-like / unlike flags."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._app import Overwrite, console


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
    from ..spectra import read_dataset

    result = build_map(
        read_dataset(train),
        output,
        read_dataset(data) if data is not None else None,
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
