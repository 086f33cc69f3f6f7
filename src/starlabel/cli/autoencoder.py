"""``starlabel train --model gandalf`` and ``starlabel edit``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

from .._atomic import atomic_path
from ._app import app, console, guarded


def train_gandalf(
    data: Path,
    output: Path,
    *,
    preset: str,
    names: list[str] | None,
    valid: Path | None,
    changes: dict[str, Any],
    seed: int,
    device: str,
    quiet: bool,
) -> None:
    """Train a disentangling autoencoder and its latent regressor; print R^2 per label."""
    from ..models.gandalf import GANDALF_PRESETS, LatentAutoencoder
    from ..spectra.io.hdf5 import read_dataset

    if preset not in GANDALF_PRESETS:
        raise ValueError(
            f"--preset: choose from {sorted(GANDALF_PRESETS)}, got {preset!r}"
        )
    if valid is not None and changes.get("valid_fraction") is not None:
        raise ValueError("--valid and --valid-fraction: give one or the other")
    cfg = replace(
        GANDALF_PRESETS[preset], **{k: v for k, v in changes.items() if v is not None}
    )
    est = LatentAutoencoder(
        cfg, labels=names, device=device, random_state=seed, show_progress=not quiet
    )
    est.fit(read_dataset(data), read_dataset(valid) if valid is not None else None)
    if est.n_dropped_:
        console.print(f"left out {est.n_dropped_} stars with a missing label")
    est.save(output)
    lam = (
        ", ".join(f"{k} {v:+g}" for k, v in cfg.lambdas.items())
        or "none (plain autoencoder)"
    )
    r2 = ", ".join(f"{k} {v:.2f}" for k, v in est.latent_r2_.items())
    console.print(
        f"wrote {output}: latent {cfg.latent}, lambda {lam}; reconstruction MSE "
        f"{est.history_[-1]['valid_mse']:.4f} (standardised flux); R^2 of each label from "
        f"the latent space (held-out stars): {r2}"
    )


def _parse_set(items: list[str]) -> dict[str, float]:
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


@app.command()
@guarded
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
) -> None:
    """Regenerate a star's spectrum with changed labels (disentangling autoencoder).

    Plots the observed spectrum, its reconstruction and the edited spectrum."""
    import numpy as np

    from ..diagnostics.plots.latent import plot_edited_spectrum
    from ..models import load
    from ..spectra.io.hdf5 import read_dataset

    model = load(model_dir)
    if not hasattr(model, "edit"):
        raise ValueError(
            f"{model_dir}: `edit` needs a gandalf model (train --model gandalf)"
        )
    result = model.edit(read_dataset(data), star, _parse_set(changes))
    fig, _ = plot_edited_spectrum(result)
    with atomic_path(output) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    diff = np.abs(result.edited - result.reconstruction)
    console.print(
        f"wrote {output}: {result.star_id}, "
        + ", ".join(
            f"{k} {result.labels[k]:g} -> {v:g}" for k, v in _parse_set(changes).items()
        )
        + f"; largest flux change {diff.max():.3f}"
    )
