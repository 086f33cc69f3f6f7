"""``starlabel train``: fit a model (cnn, cinn, gandalf, emulator) and write its directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from ._app import Overwrite, Quiet, console, names, warn

SETTINGS = {"allow_extra_args": True}


def train(
    ctx: typer.Context,
    data: Annotated[Path, typer.Argument(help="Training dataset (.h5).")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Model directory to write.")
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="The model to train:")
    ] = None,
    labels: Annotated[
        list[str],
        typer.Option(
            "--labels", help="Labels to learn: --labels teff logg fe_h (default: all)."
        ),
    ] = [],  # noqa: B006
    preset: Annotated[
        str | None,
        typer.Option(
            "--preset",
            help="Named settings (the papers' among them; --print-config shows one):",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="Run file (TOML, from --print-config or MODEL/config.toml).",
        ),
    ] = None,
    print_config: Annotated[
        bool,
        typer.Option("--print-config", help="Print the resolved run as TOML and stop."),
    ] = False,
    valid: Annotated[
        Path | None, typer.Option("--valid", help="Validation dataset.")
    ] = None,
    valid_fraction: Annotated[
        float | None,
        typer.Option(
            "--valid-fraction", help="Share held out when --valid is not given."
        ),
    ] = None,
    ensemble: Annotated[
        int | None,
        typer.Option(
            "--ensemble",
            help="Networks trained from seeds random_state + k (the cINN keeps the "
            "best one).",
        ),
    ] = None,
    keep: Annotated[
        int | None,
        typer.Option("--keep", help="Members kept, lowest validation loss first."),
    ] = None,
    max_epochs: Annotated[
        int | None, typer.Option("--max-epochs", help="Epochs at most.")
    ] = None,
    patience: Annotated[
        int | None, typer.Option("--patience", help="Early stopping (epochs).")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", help="Mini-batch size.")
    ] = None,
    lr: Annotated[float | None, typer.Option("--lr", help="Learning rate.")] = None,
    optimizer: Annotated[
        str | None, typer.Option("--optimizer", help="sgd or adam.")
    ] = None,
    hidden: Annotated[
        list[int],
        typer.Option("--hidden", help="Hidden layer sizes (repeat: --hidden 300 ...)."),
    ] = [],  # noqa: B006
    extra: Annotated[
        list[str],
        typer.Option(
            "--extra",
            help="cnn: /extra inputs joined to the features (hybrid CNN; repeat).",
        ),
    ] = [],  # noqa: B006
    augment_noise: Annotated[
        bool, typer.Option("--augment-noise", help="Add noise drawn from ivar.")
    ] = False,
    augment_snr: Annotated[
        float | None,
        typer.Option(
            "--augment-snr",
            help="Degrade half of each training batch to a random S/N "
            "between this and the spectrum's own, with noise from its ivar (0: off).",
        ),
    ] = None,
    loss: Annotated[
        str | None,
        typer.Option(
            "--loss",
            help="mse (the paper; member spread only) or beta_nll (each member "
            "predicts a mean and a variance: data and model uncertainty).",
        ),
    ] = None,
    censor: Annotated[
        bool,
        typer.Option(
            "--censor",
            help="Each abundance sees only the windows around its own element's "
            "lines and the Fe lines (from the package line list).",
        ),
    ] = False,
    rv_jitter: Annotated[
        float | None, typer.Option("--rv-jitter", help="Random RV shifts [km/s].")
    ] = None,
    latent: Annotated[int | None, typer.Option("--latent", help="Latent size.")] = None,
    disentangle: Annotated[
        list[str], typer.Option("--disentangle", help="Labels removed from z.")
    ] = [],  # noqa: B006
    entangle: Annotated[
        list[str], typer.Option("--entangle", help="Labels reinforced in z.")
    ] = [],  # noqa: B006
    strength: Annotated[
        float | None,
        typer.Option("--lambda", help="|lambda| of those labels."),
    ] = None,
    adversary: Annotated[
        str | None,
        typer.Option(
            "--adversary", help="paper (default) or uniform (confusion loss)."
        ),
    ] = None,
    encoder_labels: Annotated[
        bool,
        typer.Option("--encoder-labels", help="Labels enter the encoder too."),
    ] = False,
    seed: Annotated[int | None, typer.Option("--seed")] = None,
    device: Annotated[
        str, typer.Option("--device", help="auto, cpu or cuda.")
    ] = "auto",
    overwrite: Annotated[bool, Overwrite] = False,
    quiet: Annotated[bool, Quiet] = False,
) -> None:
    """Train a model: cnn (deep ensemble), cinn (posterior per star), gandalf (autoencoder) or emulator (spectrum from labels)."""
    from ..models import (
        build_estimator,
        check_model_target,
        check_trainable,
        read_run_config,
    )
    from ..spectra import read_dataset

    if valid is not None and valid_fraction is not None:
        raise ValueError("--valid and --valid-fraction: give one or the other")
    est = build_estimator(
        model,
        run=read_run_config(config) if config is not None else None,
        preset=preset,
        labels=names(labels, ctx) or None,
        extra=extra or None,
        seed=seed,
        device=device,
        show_progress=not quiet,
        ensemble=ensemble,
        keep=keep,
        valid_fraction=valid_fraction,
        max_epochs=max_epochs,
        patience=patience,
        batch_size=batch_size,
        lr=lr,
        optimizer=optimizer,
        augment_noise=augment_noise or None,
        augment_snr=augment_snr,
        rv_jitter=rv_jitter,
        censor=censor or None,
        loss=loss,
        latent=latent,
        disentangle=tuple(disentangle) or None,
        entangle=tuple(entangle) or None,
        encoder_labels=encoder_labels or None,
        adversary=adversary,
        hidden=tuple(hidden) or None,
        **{"lambda": strength},
    )
    if print_config:
        typer.echo(est.run_toml(), nl=False)
        return
    if output is None:
        raise ValueError("-o/--output: give the model directory to write")
    check_model_target(output, overwrite=overwrite)  # before hours of training
    train_set = read_dataset(data)
    chosen = list(est.labels) if est.labels is not None else train_set.label_names
    check_trainable(train_set, chosen, path=data)
    valid_set = None
    if valid is not None:
        valid_set = read_dataset(valid)
        check_trainable(valid_set, chosen, path=valid)
    est.fit(train_set, valid_set)
    est.save(output, overwrite=overwrite)
    for message in est.fit_warnings_:
        warn(message)
    if getattr(est, "n_dropped_", 0):
        console.print(f"left out {est.n_dropped_} stars with a missing label")
    facts = est.summary()
    console.print(f"wrote {output}: {facts.pop('kind')}")
    for key in (
        "labels",
        "members",
        "latent",
        "validation loss",
        "R^2 from z",
        "emulator error",
    ):
        if key in facts:
            console.print(f"  {key}: {escape(facts[key])}", highlight=False)
