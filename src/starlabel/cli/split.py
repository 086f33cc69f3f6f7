"""``starlabel split``: train / validation / test files from one dataset."""

from __future__ import annotations

import math
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
        list[float] | None,
        typer.Option(
            "--fractions",
            metavar="TRAIN VALID [TEST]",
            help="Train, validation[, test] fractions summing to 1 (default 0.6 0.2 "
            "0.2; a test fraction of 0 or none writes no test file).",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    stratify: Annotated[
        str | None,
        typer.Option("--stratify", help="Label to stratify on (quantile bins)."),
    ] = None,
    overwrite: Annotated[bool, Overwrite] = False,
) -> None:
    """Split a dataset into train / validation / test files (random or stratified)."""
    from ..spectra.io.hdf5 import split_dataset

    fr = check_fractions(fractions)
    test = Path(f"{output}-test.h5")
    had_test = test.exists()
    parts = split_dataset(
        path, output, fr, seed=seed, stratify=stratify, overwrite=overwrite
    )
    for name, (p, n) in parts.items():
        console.print(f"wrote {p}: {n} spectra ({name})")
    if had_test and not test.exists():
        console.print(f"removed {test}: the test part of the earlier split")


def check_fractions(fractions: list[float] | None) -> list[float]:
    """``--fractions`` as 2 or 3 finite, non-negative numbers summing to 1; a test
    fraction of 0 is dropped. Raises a ValueError naming the option otherwise."""
    fr = list(fractions) if fractions else [0.6, 0.2, 0.2]
    shown = " ".join(f"{f:g}" for f in fr)
    if len(fr) not in (2, 3):
        raise ValueError(
            f"--fractions: give 2 (train valid) or 3 (train valid test) numbers, "
            f"got {len(fr)}: {shown}"
        )
    bad = [f for f in fr if not math.isfinite(f)]
    if bad:
        raise ValueError(f"--fractions: {bad[0]:g} is not a finite number ({shown})")
    negative = [f for f in fr if f < 0]
    if negative:
        raise ValueError(
            f"--fractions: {negative[0]:g} is negative; fractions are >= 0 ({shown})"
        )
    if fr[0] == 0 or fr[1] == 0:
        raise ValueError(
            f"--fractions: the train and validation fractions must be > 0 ({shown})"
        )
    if abs(sum(fr) - 1) > 1e-6:
        raise ValueError(f"--fractions: must sum to 1, got {shown} (sum {sum(fr):g})")
    return fr if len(fr) == 2 or fr[2] > 0 else fr[:2]
