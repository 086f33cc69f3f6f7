"""``starlabel split``: train / validation / test files from one dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._app import Overwrite, console


def split(
    path: Annotated[Path, typer.Argument(help="Dataset file to split.")],
    output: Annotated[
        str,
        typer.Option(
            "-o",
            "--output",
            help="PREFIX: writes PREFIX-train.h5, PREFIX-valid.h5[, PREFIX-test.h5].",
        ),
    ],
    fractions: Annotated[
        tuple[float, float, float],
        typer.Option(
            "--fractions", help="Train, validation, test fractions (test may be 0)."
        ),
    ] = (0.6, 0.2, 0.2),
    seed: Annotated[int, typer.Option("--seed")] = 0,
    stratify: Annotated[
        str | None,
        typer.Option("--stratify", help="Label to stratify on (quantile bins)."),
    ] = None,
    overwrite: Annotated[bool, Overwrite] = False,
) -> None:
    """Split a dataset into train / validation / test files (random or stratified)."""
    from ..spectra.io.hdf5 import split_dataset

    fr = [f for f in fractions if f > 0] if fractions[2] == 0 else list(fractions)
    if abs(sum(fr) - 1) > 1e-6:
        raise ValueError(f"--fractions: must sum to 1, got {fractions}")
    parts = split_dataset(
        path, output, fr, seed=seed, stratify=stratify, overwrite=overwrite
    )
    for name, (p, n) in parts.items():
        console.print(f"wrote {p}: {n} spectra ({name})")
