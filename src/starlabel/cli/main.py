"""The ``starlabel`` command: thin shells over the public API.

Exit codes: 0 success, 1 unexpected failure, 2 bad input (one-line reason on
stderr), 3 a command that is not built yet.
"""

from __future__ import annotations

import csv
import io
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .._atomic import atomic_path
from ..spectra.flags import Flag
from ._app import app, console, err_console, guarded


# ------------------------------------------------------------------ prepare
class InputFormat(StrEnum):
    ges = "ges"
    apogee_apstar = "apogee-apstar"
    apogee_apvisit = "apogee-apvisit"
    gaia_rvs = "gaia-rvs"
    table = "table"


class Normalise(StrEnum):
    none = "none"
    percentile = "percentile"
    polynomial = "polynomial"


class Fill(StrEnum):
    interp = "interp"
    one = "one"
    mean = "mean"


class Scale(StrEnum):
    x_fe = "x_fe"
    x_h = "x_h"
    a = "a"


def _parse_limits(items: list[str]) -> dict[str, float]:
    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--max-label-err: expected LABEL=VALUE, got {item!r}")
        name, value = item.split("=", 1)
        out[name.strip()] = float(value)
    return out


def write_rejected(path: Path, rejected: list) -> Path | None:
    """Write skipped spectra as CSV (source, star, reason) beside the output."""
    target = path.with_name(path.name + ".rejected.csv")
    if not rejected:
        target.unlink(missing_ok=True)
        return None
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["source", "star", "reason"])
    for r in rejected:
        w.writerow([r.source, r.star, r.reason])
    with atomic_path(target) as tmp:
        tmp.write_text(buf.getvalue(), encoding="utf-8")
    return target


def run_prepare(
    files: list[str],
    output: Path,
    *,
    format: str | None,
    reader_options: dict[str, Any],
    labels: Path | None,
    id_column: str | None,
    mapping: list[str],
    rv_column: str | None,
    abundance_scale: str,
    config_kwargs: dict[str, Any],
    quiet: bool = False,
) -> Any:
    """Shared by ``prepare`` and ``demo``: read, prepare, write, report."""
    from ..spectra import PrepareConfig, prepare_files, read_catalogue

    catalogue = None
    if labels is not None:
        if not id_column:
            raise ValueError(
                "--id-column: required with --labels (the catalogue column holding the ids)"
            )
        full_map = list(mapping)
        if rv_column:
            full_map.append(f"{rv_column}=rv")
        catalogue = read_catalogue(
            labels,
            id_column=id_column,
            mapping=full_map,
            abundance_scale=abundance_scale,
        )
    elif rv_column:
        raise ValueError(
            "--rv-column: needs --labels (the RV comes from the catalogue)"
        )
    config = PrepareConfig(shift_rv=rv_column is not None, **config_kwargs)
    with _progress("prepare", 0, quiet) as progress:
        task = progress.add_task("prepare", total=None)

        def advance(n: int, total: int) -> None:
            progress.update(task, advance=n, total=total)

        report = prepare_files(
            files,
            output,
            format=format,
            reader_options=reader_options,
            catalogue=catalogue,
            config=config,
            progress=advance,
        )
    rejected_file = write_rejected(Path(output), report.rejected)
    if not quiet:
        console.print(f"wrote {output}: {report.summary()}; grid {report.grid!r}")
        for r in report.rejected[:10]:
            err_console.print(
                f"  skipped {r.source}: {('star ' + r.star + ': ') if r.star else ''}{r.reason}",
                highlight=False,
                markup=False,
            )
        if len(report.rejected) > 10:
            err_console.print(
                f"  ... and {len(report.rejected) - 10} more", highlight=False
            )
        if rejected_file:
            console.print(f"skipped spectra listed in {rejected_file}")
    return report


@app.command()
@guarded
def prepare(
    files: Annotated[
        list[str], typer.Argument(help="Spectrum files, directories or glob patterns.")
    ],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Dataset file to write (.h5).")
    ],
    format: Annotated[
        InputFormat | None,
        typer.Option("--format", help="Input format; guessed per file if omitted."),
    ] = None,
    labels: Annotated[
        Path | None,
        typer.Option("--labels", help="Label catalogue (FITS, CSV, Parquet)."),
    ] = None,
    id_column: Annotated[
        str | None,
        typer.Option("--id-column", help="Catalogue column with the star ids."),
    ] = None,
    map_: Annotated[
        list[str],
        typer.Option(
            "--map", help="COLUMN=label, e.g. TEFF=teff, MG1=A(Mg), E_TEFF=teff_err."
        ),
    ] = [],  # noqa: B006
    rv_column: Annotated[
        str | None,
        typer.Option(
            "--rv-column", help="Catalogue RV column (km/s): shift to rest frame."
        ),
    ] = None,
    grid: Annotated[
        str | None,
        typer.Option(
            "--grid",
            help="Named grid (giraffe-hr10-hr21, giraffe-hr10, giraffe-hr21, giraffe-hr15n, gaia-rvs, apogee) or a file.",
        ),
    ] = None,
    min_snr: Annotated[
        float | None, typer.Option("--min-snr", help="Drop spectra with lower S/N.")
    ] = None,
    max_label_err: Annotated[
        list[str], typer.Option("--max-label-err", help="LABEL=VALUE, e.g. teff=200.")
    ] = [],  # noqa: B006
    flag_column: Annotated[
        str | None,
        typer.Option(
            "--flag-column",
            help="Mapped catalogue column (e.g. TECH=flags); non-empty values drop the star.",
        ),
    ] = None,
    normalise: Annotated[
        Normalise,
        typer.Option(
            "--normalise", help="Continuum normalisation for un-normalised input."
        ),
    ] = Normalise.none,
    fill: Annotated[
        Fill,
        typer.Option("--fill", help="How masked pixels are filled (ivar stays 0)."),
    ] = Fill.interp,
    no_clean: Annotated[
        bool, typer.Option("--no-clean", help="Skip spike and bad-pixel cleaning.")
    ] = False,
    abundance_scale: Annotated[
        Scale,
        typer.Option(
            "--abundance-scale", help="Store abundances as [X/Fe], [X/H] or A(X)."
        ),
    ] = Scale.x_fe,
    medium: Annotated[
        str | None,
        typer.Option(
            "--medium",
            help="Wavelength medium of the input (air/vacuum), for ges and table formats.",
        ),
    ] = None,
    wavelength_unit: Annotated[
        str | None,
        typer.Option(
            "--wavelength-unit",
            help="Unit of unit-less wavelength columns (table format).",
        ),
    ] = None,
    wave_column: Annotated[
        str | None, typer.Option("--wave", help="Wavelength column name.")
    ] = None,
    flux_column: Annotated[
        str | None, typer.Option("--flux", help="Flux column or extension name.")
    ] = None,
    error_column: Annotated[
        str | None, typer.Option("--error", help="Error/ivar column or extension name.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Read survey spectra and a label catalogue; clean, shift, resample, join setups, cut -> dataset file."""
    options: dict[str, Any] = {}
    if medium:
        options["medium"] = medium
    if wavelength_unit:
        options["wavelength_unit"] = wavelength_unit
    if wave_column:
        options["wave"] = wave_column
    if flux_column:
        options["flux"] = flux_column
    if error_column:
        options["error"] = error_column
    fmt = format.value if format else None
    if options and fmt not in ("ges", "table"):
        raise ValueError(
            "--medium/--wave/--flux/--error/--wavelength-unit need --format ges or table"
        )
    if fmt != "table":
        options.pop("wavelength_unit", None)
    run_prepare(
        files,
        output,
        format=fmt,
        reader_options=options,
        labels=labels,
        id_column=id_column,
        mapping=map_,
        rv_column=rv_column,
        abundance_scale=abundance_scale.value,
        config_kwargs=dict(
            grid=grid,
            min_snr=min_snr,
            max_label_err=_parse_limits(max_label_err),
            flag_column=flag_column,
            normalise=normalise.value,
            fill=fill.value,
            clean=not no_clean,
        ),
        quiet=quiet,
    )


# --------------------------------------------------------------------- info
def print_summary(path: Path) -> None:
    from ..spectra.summary import summarise_dataset

    s = summarise_dataset(path)
    console.print(
        f"[bold]{s.path}[/]: {s.n_spectra} spectra x {s.n_pixels} pixels, "
        f"{s.medium} wavelengths, {'rest frame' if s.rest_frame else 'observed frame'}"
        + (f", setup {s.setup}" if s.setup else "")
    )
    for lo, hi, n in s.segments:
        console.print(
            f"  wavelength {lo:.2f}-{hi:.2f} Angstrom ({n} px, {(hi - lo) / max(n - 1, 1):.4f} A/px)"
        )
    q = s.snr_quartiles
    console.print(
        f"  S/N per pixel quartiles: {q[0]:.1f} / {q[1]:.1f} / {q[2]:.1f}; "
        f"masked pixels {100 * s.masked_fraction:.2f} %"
    )
    if s.labels:
        t = Table("label", "unit", "known", "min", "median", "max")
        for lab in s.labels:
            t.add_row(
                lab.name,
                lab.unit,
                f"{lab.n_known}/{s.n_spectra}",
                f"{lab.minimum:.4g}",
                f"{lab.median:.4g}",
                f"{lab.maximum:.4g}",
            )
        console.print(t)
    else:
        console.print("  no labels")
    if s.flag_counts:
        console.print(
            "  flags: " + ", ".join(f"{k} {v}" for k, v in s.flag_counts.items())
        )


@app.command()
@guarded
def info(
    path: Annotated[
        Path, typer.Argument(help="A dataset file (.h5) or a model directory.")
    ],
) -> None:
    """Summarise a dataset (counts, wavelength range, label ranges, S/N quartiles) or a model."""
    if path.is_dir():
        print_model(path)
    else:
        print_summary(path)


def print_model(path: Path) -> None:
    from ..models import load
    from ..models.persist import read_manifest

    load(path)  # checks every file
    m = read_manifest(path)
    g = m["grid"]
    labels = escape(", ".join(f"{d['name']} [{d['unit']}]" for d in m["label_spec"]))
    extra = f"; extra inputs: {', '.join(m['extra'])}" if m.get("extra") else ""
    losses = ", ".join(f"{x['best_valid_loss']:.4f}" for x in m["members"])
    console.print(
        f"[bold]{path}[/]: {m['class']} ({m.get('kind', '')}), starlabel {m.get('starlabel_version')}, "
        f"torch {m.get('torch_version')}, created {m.get('created')}"
    )
    console.print(f"  labels: {labels}{extra}")
    console.print(
        f"  grid: {g['n_pixels']} px, {g['min']:.2f}-{g['max']:.2f} Angstrom ({g['medium']})"
    )
    console.print(
        f"  trained on {m.get('training', {}).get('n_spectra')} spectra; {len(m['members'])} members "
        f"kept (validation loss {losses}, standardised MSE)"
    )


# -------------------------------------------------------------------- split
@app.command()
@guarded
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
) -> None:
    """Split a dataset into train / validation / test files (random or stratified)."""
    from ..spectra.io.hdf5 import split_dataset

    fr = [f for f in fractions if f > 0] if fractions[2] == 0 else list(fractions)
    if abs(sum(fr) - 1) > 1e-6:
        raise ValueError(f"--fractions: must sum to 1, got {fractions}")
    parts = split_dataset(path, output, fr, seed=seed, stratify=stratify)
    for name, (p, n) in parts.items():
        console.print(f"wrote {p}: {n} spectra ({name})")


# --------------------------------------------------------------------- demo
@app.command()
@guarded
def demo(
    out: Annotated[
        Path, typer.Option("--out", help="Folder for everything the demo writes.")
    ] = Path("starlabel-demo"),
    quick: Annotated[
        bool, typer.Option("--quick", help="A smaller run for a first look.")
    ] = False,
    seed: Annotated[int, typer.Option("--seed")] = 0,
) -> None:
    """The main job on the embedded default: synthetic survey -> models -> catalogues -> report."""
    from ..spectra.io.hdf5 import split_dataset
    from ..synth.population import sample_population
    from ..synth.raw import write_raw_observations

    n_stars = 60 if quick else 1000
    console.rule("[bold]starlabel demo")
    console.print(
        "The whole chain on a synthetic Galactic survey: raw FITS spectra -> prepare -> split -> "
        "CNN deep ensemble, cINN and disentangling autoencoder -> catalogues with uncertainties -> "
        "evaluation -> saliency -> similarity map -> HTML report. Every file it writes is reusable."
    )
    raw_dir = out / "raw"
    pop = sample_population(n_stars, seed=seed, snr=(10.0, 150.0))
    with _progress("observe", 3 * n_stars, False) as progress:
        task = progress.add_task("observe", total=3 * n_stars)
        files, catalogue, truth = write_raw_observations(
            raw_dir,
            pop,
            setup="giraffe-hr10-hr21",
            seed=seed,
            truth_crlb=True,
            progress=lambda k: progress.update(task, advance=k),
        )
    console.print(
        f"1. observed a synthetic Galactic survey of {n_stars} stars: {len(files)} Gaia-ESO-style FITS "
        f"spectra (HR10 + HR21 at 0.05 A/px, Doppler shifted, cosmic rays, dead pixels, S/N 10-150), "
        f"the label catalogue {catalogue} (measured RVs) and the truth {truth}"
    )
    data = out / "survey.h5"
    run_prepare(
        [str(raw_dir / "*_HR*.fits")],
        data,
        format="ges",
        reader_options={},
        labels=catalogue,
        id_column="CNAME",
        mapping=[
            f"{c}={n}"
            for c, n in (
                ("TEFF", "teff"),
                ("E_TEFF", "teff_err"),
                ("LOGG", "logg"),
                ("E_LOGG", "logg_err"),
                ("FEH", "fe_h"),
                ("E_FEH", "fe_h_err"),
                ("MG_FE", "mg_fe"),
                ("AL_FE", "al_fe"),
                ("SI_FE", "si_fe"),
                ("CA_FE", "ca_fe"),
                ("TI_FE", "ti_fe"),
                ("NI_FE", "ni_fe"),
                ("A_LI", "a_li"),
                ("E_VRAD", "rv_err"),
                ("POPULATION", "population"),
                ("CLUSTER", "cluster"),
            )
        ],
        rv_column="VRAD",
        abundance_scale="x_fe",
        config_kwargs=dict(grid="giraffe-hr10-hr21"),
        quiet=False,
    )
    console.print(
        "2. prepared: cleaned spikes and dead pixels, shifted to the rest frame with the catalogue RV, "
        "resampled (flux-conserving) onto the 8669-pixel HR10+HR21 grid of Ambrosch et al. 2023, "
        "joined the setups"
    )
    print_summary(data)
    parts = split_dataset(
        data, out / "survey", (0.6, 0.2, 0.2), seed=seed, stratify="teff"
    )
    console.print(
        "3. split (stratified on teff): "
        + ", ".join(f"{n} {name} -> {p}" for name, (p, n) in parts.items())
    )
    from . import demo_steps

    _demo_models(out, parts, truth, quick=quick, seed=seed)
    _demo_cinn(out, parts, truth, quick=quick, seed=seed)
    gandalf = demo_steps.demo_gandalf(out, parts, quick=quick, seed=seed)
    demo_steps.demo_explain(out, parts, quick=quick, seed=seed)
    demo_steps.demo_map(out, parts, quick=quick, seed=seed)
    demo_steps.demo_report(
        out,
        [out / "catalogue-test-cinn.fits", out / "catalogue-test.fits", gandalf],
        truth,
    )
    console.print(f"everything is in {out}/")


# ------------------------------------------------------- train / predict
def _names(first: list[str], ctx: typer.Context) -> list[str]:
    """Label names given as ``--labels a b c`` (extra tokens), ``--labels a,b`` or repeated."""
    out: list[str] = []
    for item in list(first) + list(ctx.args):
        if item.startswith("-"):
            raise ValueError(f"unexpected option {item!r}")
        out += [x for x in item.split(",") if x]
    return out


class ModelKind(StrEnum):
    cnn = "cnn"
    cinn = "cinn"
    gandalf = "gandalf"


@app.command(context_settings={"allow_extra_args": True})
@guarded
def train(
    ctx: typer.Context,
    data: Annotated[Path, typer.Argument(help="Training dataset (.h5).")],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Model directory to write.")
    ],
    model: Annotated[
        ModelKind,
        typer.Option(
            "--model",
            help="cnn (deep ensemble), cinn (posterior per star) or gandalf "
            "(disentangling autoencoder).",
        ),
    ] = ModelKind.cnn,
    labels: Annotated[
        list[str],
        typer.Option(
            "--labels",
            help="Labels to predict: --labels teff logg fe_h (default: all).",
        ),
    ] = [],  # noqa: B006
    ensemble: Annotated[
        int | None,
        typer.Option(
            "--ensemble",
            help="cnn: members to train (paper: 10); cinn: seeds, best kept (paper: 5).",
        ),
    ] = None,
    keep: Annotated[
        int | None,
        typer.Option("--keep", help="Members kept, lowest validation loss (paper: 8)."),
    ] = None,
    valid: Annotated[
        Path | None, typer.Option("--valid", help="Validation dataset.")
    ] = None,
    valid_fraction: Annotated[
        float | None,
        typer.Option(
            "--valid-fraction",
            help="Share held out when --valid is not given (paper: 0.4).",
        ),
    ] = None,
    preset: Annotated[
        str,
        typer.Option(
            "--preset",
            help="cnn: ambrosch2023 (the paper; default), ambrosch2023-adam (same "
            "network, Adam), wide, fast. cinn: candebat2024 (default), fast. "
            "gandalf: santovena2025 (default), fast.",
        ),
    ] = "",
    max_epochs: Annotated[int | None, typer.Option("--max-epochs")] = None,
    patience: Annotated[
        int | None, typer.Option("--patience", help="Early stopping (paper: 30).")
    ] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size")] = None,
    lr: Annotated[float | None, typer.Option("--lr", help="Learning rate.")] = None,
    optimizer: Annotated[
        str | None, typer.Option("--optimizer", help="sgd (paper) or adam.")
    ] = None,
    extra: Annotated[
        list[str],
        typer.Option("--extra", help="/extra inputs for a hybrid CNN (repeat)."),
    ] = [],  # noqa: B006
    augment_noise: Annotated[
        bool,
        typer.Option(
            "--augment-noise", help="Add noise drawn from ivar while training."
        ),
    ] = False,
    rv_jitter: Annotated[
        float,
        typer.Option("--rv-jitter", help="Random RV shifts (km/s) while training."),
    ] = 0.0,
    latent: Annotated[
        int | None, typer.Option("--latent", help="gandalf: latent size (paper: 25).")
    ] = None,
    disentangle: Annotated[
        list[str],
        typer.Option(
            "--disentangle", help="gandalf: labels to remove from the latent space."
        ),
    ] = [],  # noqa: B006
    entangle: Annotated[
        list[str],
        typer.Option("--entangle", help="gandalf: labels to reinforce in it."),
    ] = [],  # noqa: B006
    strength: Annotated[
        float | None,
        typer.Option("--lambda", help="gandalf: |lambda| of those labels (0.1)."),
    ] = None,
    encoder_labels: Annotated[
        bool,
        typer.Option(
            "--encoder-labels",
            help="gandalf: labels enter the encoder too (paper Fig. 1; synthetic sets).",
        ),
    ] = False,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    device: Annotated[
        str, typer.Option("--device", help="auto, cpu or cuda.")
    ] = "auto",
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Train a model: cnn (deep ensemble), cinn (posterior per star) or gandalf (autoencoder)."""
    from dataclasses import replace as dc_replace

    from ..models.cnn import PRESETS, DeepEnsembleRegressor
    from ..spectra.io.hdf5 import read_dataset

    train_changes = {
        k: v
        for k, v in dict(
            max_epochs=max_epochs,
            patience=patience,
            batch_size=batch_size,
            lr=lr,
            optimizer=optimizer,
        ).items()
        if v is not None
    }
    gandalf_given = (
        latent is not None or disentangle or entangle or strength is not None
    ) or encoder_labels
    if model is not ModelKind.gandalf and gandalf_given:
        raise ValueError(
            "--latent, --disentangle, --entangle, --lambda, --encoder-labels: options of --model gandalf"
        )
    if model is ModelKind.gandalf:
        if keep is not None or extra or augment_noise or rv_jitter or ensemble:
            raise ValueError(
                "--ensemble, --keep, --extra, --augment-noise, --rv-jitter: not for --model gandalf"
            )
        from .autoencoder import train_gandalf

        train_gandalf(
            data,
            output,
            preset=preset or "santovena2025",
            names=_names(labels, ctx) or None,
            valid=valid,
            changes=dict(
                latent=latent,
                disentangle=tuple(disentangle) or None,
                entangle=tuple(entangle) or None,
                strength=strength,
                encoder_labels=encoder_labels or None,
                valid_fraction=valid_fraction,
                max_epochs=max_epochs,
                batch_size=batch_size,
                lr=lr,
            ),
            seed=seed,
            device=device,
            quiet=quiet,
        )
        return
    if model is ModelKind.cinn:
        if keep is not None or extra or augment_noise or rv_jitter:
            raise ValueError(
                "--keep, --extra, --augment-noise, --rv-jitter: cnn options, not for --model cinn"
            )
        _train_cinn(
            data,
            output,
            preset or "candebat2024",
            _names(labels, ctx) or None,
            ensemble,
            valid,
            valid_fraction,
            train_changes,
            seed,
            device,
            quiet,
        )
        return
    preset = preset or "ambrosch2023"
    if preset not in PRESETS:
        raise ValueError(f"--preset: choose from {sorted(PRESETS)}, got {preset!r}")
    if valid is not None and valid_fraction is not None:
        raise ValueError("--valid and --valid-fraction: give one or the other")
    cfg = PRESETS[preset]
    top = {
        k: v
        for k, v in dict(n_members=ensemble, valid_fraction=valid_fraction).items()
        if v is not None
    }
    if ensemble is not None and keep is None:
        top["n_keep"] = min(cfg.n_keep, ensemble)
    if keep is not None:
        top["n_keep"] = keep
    cfg = dc_replace(
        cfg,
        train=dc_replace(cfg.train, **train_changes),
        augment_noise=augment_noise,
        rv_jitter_kms=rv_jitter,
        **top,
    )
    names = _names(labels, ctx) or None
    train_set = read_dataset(data)
    valid_set = read_dataset(valid) if valid is not None else None
    est = DeepEnsembleRegressor(
        cfg,
        labels=names,
        extra=tuple(extra),
        device=device,
        random_state=seed,
        show_progress=not quiet,
    )
    est.fit(train_set, valid_set)
    est.save(output)
    console.print(
        f"wrote {output}: {cfg.n_keep} of {cfg.n_members} members kept, labels "
        f"{', '.join(est.label_names_)}; validation losses "
        f"{', '.join(f'{x:.4f}' for x in est.member_losses_)} (standardised MSE)"
    )


def _train_cinn(
    data: Path,
    output: Path,
    preset: str,
    names: list[str] | None,
    ensemble: int | None,
    valid: Path | None,
    valid_fraction: float | None,
    train_changes: dict,
    seed: int,
    device: str,
    quiet: bool,
) -> None:
    from dataclasses import replace as dc_replace

    from ..models.cinn import CINN_PRESETS, ConditionalINNRegressor
    from ..spectra.io.hdf5 import read_dataset

    if preset not in CINN_PRESETS:
        raise ValueError(
            f"--preset: choose from {sorted(CINN_PRESETS)}, got {preset!r}"
        )
    if valid is not None and valid_fraction is not None:
        raise ValueError("--valid and --valid-fraction: give one or the other")
    cfg = CINN_PRESETS[preset]
    top = {
        k: v
        for k, v in dict(n_members=ensemble, valid_fraction=valid_fraction).items()
        if v is not None
    }
    cfg = dc_replace(cfg, train=dc_replace(cfg.train, **train_changes), **top)
    est = ConditionalINNRegressor(
        cfg, labels=names, device=device, random_state=seed, show_progress=not quiet
    )
    est.fit(read_dataset(data), read_dataset(valid) if valid is not None else None)
    if est.n_dropped_:
        console.print(
            f"left out {est.n_dropped_} stars with a missing label (the cINN needs all labels)"
        )
    est.save(output)
    console.print(
        f"wrote {output}: cINN for {', '.join(est.label_names_)}; seed {est.seed_} kept of "
        f"{cfg.n_members}, validation loss {est.best_valid_loss_:.4f} (NLL per label)"
    )


class PredictMode(StrEnum):
    fast = "fast"
    precision = "precision"


@app.command()
@guarded
def predict(
    model_dir: Annotated[Path, typer.Argument(help="Model directory.")],
    data: Annotated[Path, typer.Argument(help="Dataset to label (.h5), any size.")],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Catalogue: .fits, .csv or .parquet.")
    ],
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size",
            help="Spectra per batch (bounds memory; default 4096, 256 in precision mode).",
        ),
    ] = None,
    mode: Annotated[
        PredictMode,
        typer.Option(
            "--mode",
            help="cinn: fast (posterior of the spectrum as observed, 32 draws) or "
            "precision (noisy copies x draws; internal, external, total errors).",
        ),
    ] = PredictMode.fast,
    n_external: Annotated[
        int,
        typer.Option("--n-external", help="cinn precision: noisy copies (paper: 20)."),
    ] = 20,
    n_internal: Annotated[
        int | None,
        typer.Option(
            "--n-internal",
            help="cinn: latent draws per copy (default 32 fast, 250 precision).",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seeds the cINN's draws.")] = 0,
    similarity_map: Annotated[
        Path | None,
        typer.Option(
            "--map",
            help="map.safetensors from `starlabel map`: adds ood_score (> 1: unlike the training set).",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Write a catalogue (labels, uncertainties, flags) from a model and a dataset."""
    from ..inference import predict_file
    from ..models import load

    model = load(model_dir)
    options: dict = {}
    if hasattr(model, "sample"):  # posterior models
        options = dict(
            mode=mode.value, n_external=n_external, n_internal=n_internal, seed=seed
        )
    elif mode is not PredictMode.fast or n_internal is not None:
        raise ValueError("--mode, --n-internal: options of cinn models")
    ood = None
    if similarity_map is not None:
        from ..diagnostics.similarity import SimilarityMap
        from ..models._shared import dense_flux

        smap = SimilarityMap.load(similarity_map)

        def ood(batch):
            return smap.ood_score(dense_flux(batch)[0])

    with _progress("predict", 0, quiet) as progress:
        task = progress.add_task("predict", total=None)
        counts = predict_file(
            model,
            data,
            output,
            batch_size=batch_size or (256 if mode is PredictMode.precision else 4096),
            progress=lambda k, total: progress.update(task, advance=k, total=total),
            ood_score=ood,
            **options,
        )
    console.print(
        f"wrote {output}: {counts['n_spectra']} rows, {counts['n_not_processed']} not processed "
        f"(NaN, flag {Flag.NOT_PROCESSED.value}), {counts['n_outside_range']} outside the training range"
        + (
            f", {counts['n_ood']} unlike the training set (flag {Flag.OUT_OF_DISTRIBUTION.value})"
            if "n_ood" in counts
            else ""
        )
    )


@app.command()
@guarded
def evaluate(
    catalogue: Annotated[
        Path, typer.Argument(help="Catalogue from `starlabel predict`.")
    ],
    truth: Annotated[
        Path,
        typer.Option("--truth", help="Dataset with the reference labels (and CRLBs)."),
    ],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Folder for metrics.csv and plots."),
    ] = None,
    model_dir: Annotated[
        Path | None,
        typer.Option(
            "--model",
            help="Posterior model (cinn) that made the catalogue: adds SBC rank "
            "histograms and the posterior coverage curve.",
        ),
    ] = None,
    n_draws: Annotated[
        int, typer.Option("--n-draws", help="Posterior draws per star for --model.")
    ] = 100,
) -> None:
    """Compare a catalogue with reference labels: bias, scatter, percentiles, calibration, plots."""
    from ..diagnostics.report_eval import write_evaluation
    from ..models import load

    out = output or catalogue.with_name(catalogue.stem + "-evaluation")
    model = load(model_dir) if model_dir is not None else None
    metrics, files = write_evaluation(
        catalogue, truth, out, model=model, n_draws=n_draws
    )
    t = Table(
        "label",
        "N",
        "bias",
        "std",
        "rob. std",
        "p15",
        "p85",
        "std/CRLB",
        "z std",
        "cov68",
        "cov95",
    )
    for m in metrics:
        t.add_row(
            escape(m.name + (f" [{m.unit}]" if m.unit else "")),
            str(m.n),
            *(f"{v:.3g}" for v in (m.bias, m.std, m.robust_std, m.p15, m.p85)),
            f"{m.sigma_over_crlb:.2f}",
            f"{m.z_std:.2f}",
            f"{m.coverage_68:.2f}",
            f"{m.coverage_95:.2f}",
        )
    Console(width=max(console.width, 110)).print(t)
    console.print("wrote " + ", ".join(str(f) for f in files))


def _demo_models(
    out: Path, parts: dict, truth: Path, *, quick: bool, seed: int
) -> None:
    """Demo steps 4-6: a small CNN ensemble, its catalogue and its evaluation."""
    from dataclasses import replace as dc_replace

    from ..diagnostics.report_eval import write_evaluation
    from ..inference import predict_file
    from ..models.cnn import PRESETS, DeepEnsembleRegressor
    from ..spectra.io.hdf5 import read_dataset

    labels = ["teff", "logg", "fe_h", "mg_fe", "al_fe"]
    cfg = PRESETS["fast"]
    cfg = dc_replace(
        cfg,
        n_members=2,
        n_keep=2,
        train=dc_replace(cfg.train, max_epochs=15 if quick else 80, patience=20),
    )
    train_set, valid_set = (
        read_dataset(parts["train"][0]),
        read_dataset(parts["valid"][0]),
    )
    est = DeepEnsembleRegressor(
        cfg, labels=labels, random_state=seed, show_progress=True
    ).fit(train_set, valid_set)
    model_dir = est.save(out / "model-cnn")
    console.print(
        f"4. trained a CNN deep ensemble (preset fast, {cfg.n_members} members, at most "
        f"{cfg.train.max_epochs} epochs; a demo-sized run, not a science model) -> {model_dir}"
    )
    catalogue = out / "catalogue-test.fits"
    counts = predict_file(est, parts["test"][0], catalogue)
    console.print(
        f"5. labelled the test set -> {catalogue} ({counts['n_spectra']} stars, "
        f"{counts['n_not_processed']} not processed)"
    )
    metrics, files = write_evaluation(catalogue, truth, out / "evaluation")
    console.print(
        "6. evaluated against the truth (std/CRLB = 1 is the best any method can do):"
    )
    console.print(_metrics_table(metrics))
    console.print("   plots: " + ", ".join(str(f) for f in files[1:]))
    console.print(
        "   z std >> 1 means the ensemble spread (an internal uncertainty only) underestimates the "
        "error; the cINN below also gives the external part."
    )


def _metrics_table(metrics: list) -> Table:
    t = Table("label", "N", "bias", "std", "std/CRLB", "z std", "cov68")
    for m in metrics:
        t.add_row(
            escape(m.name + (f" [{m.unit}]" if m.unit else "")),
            str(m.n),
            f"{m.bias:.3g}",
            f"{m.std:.3g}",
            f"{m.sigma_over_crlb:.2f}",
            f"{m.z_std:.2f}",
            f"{m.coverage_68:.2f}",
        )
    return t


def _demo_cinn(out: Path, parts: dict, truth: Path, *, quick: bool, seed: int) -> None:
    """Demo steps 7-8: a cINN, its Precision-mode catalogue and its calibration."""
    from dataclasses import replace as dc_replace

    from ..diagnostics.report_eval import write_evaluation
    from ..inference import predict_file
    from ..models.cinn import CINN_PRESETS, ConditionalINNRegressor
    from ..spectra.io.hdf5 import read_dataset

    cfg = CINN_PRESETS["fast"]
    cfg = dc_replace(cfg, train=dc_replace(cfg.train, max_epochs=3 if quick else 40))
    est = ConditionalINNRegressor(
        cfg,
        labels=["teff", "logg", "fe_h", "mg_fe", "al_fe"],
        random_state=seed,
        show_progress=True,
    ).fit(read_dataset(parts["train"][0]), read_dataset(parts["valid"][0]))
    model_dir = est.save(out / "model-cinn")
    n_ext, n_int = (5, 50) if quick else (10, 100)
    catalogue = out / "catalogue-test-cinn.fits"
    predict_file(
        est,
        parts["test"][0],
        catalogue,
        mode="precision",
        n_external=n_ext,
        n_internal=n_int,
        seed=seed,
    )
    console.print(
        f"7. trained a cINN (preset fast, at most {cfg.train.max_epochs} epochs) -> {model_dir}; "
        f"Precision-mode catalogue ({n_ext} noisy copies x {n_int} draws per star; "
        f"the paper uses 20 x 250) -> {catalogue}"
    )
    metrics, files = write_evaluation(
        catalogue, truth, out / "evaluation-cinn", model=est, n_draws=100
    )
    console.print(
        "8. evaluated the cINN; its errors are total (internal + external), so z std near 1 "
        "and cov68 near 0.68 mean calibrated:"
    )
    console.print(_metrics_table(metrics))
    console.print("   plots: " + ", ".join(str(f) for f in files[1:]))


# -------------------------------------------------------------------- synth
class PopulationKind(StrEnum):
    galactic = "galactic"
    uniform = "uniform"


def _parse_snr(text: str) -> tuple[float, float]:
    parts = text.split(":")
    try:
        values = [float(p) for p in parts]
    except ValueError as exc:
        raise ValueError(
            f"--snr: expected LOW:HIGH or a single value, got {text!r}"
        ) from exc
    if len(values) == 1:
        values = values * 2
    if len(values) != 2 or not 0 < values[0] <= values[1]:
        raise ValueError(f"--snr: expected 0 < LOW <= HIGH, got {text!r}")
    return values[0], values[1]


def _progress(label: str, total: int, quiet: bool):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(
        TextColumn(f"[bold]{label}[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        disable=quiet,
    )


@app.command()
@guarded
def synth(
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Dataset file to write (.h5).")
    ] = None,
    setup: Annotated[
        str,
        typer.Option(
            "--setup",
            help="giraffe-hr10-hr21, giraffe-hr10, giraffe-hr21, giraffe-hr15n or gaia-rvs.",
        ),
    ] = "giraffe-hr10-hr21",
    n: Annotated[int, typer.Option("--n", help="Number of stars.")] = 5000,
    population: Annotated[
        PopulationKind,
        typer.Option(
            "--population", help="Galactic mixture or independent uniform labels."
        ),
    ] = PopulationKind.galactic,
    snr: Annotated[
        str,
        typer.Option(
            "--snr", help="S/N per pixel: LOW:HIGH (log-uniform) or one value."
        ),
    ] = "10:150",
    seed: Annotated[int, typer.Option("--seed")] = 1,
    labels_from: Annotated[
        Path | None,
        typer.Option(
            "--labels-from",
            help="Table of labels (one spectrum per row) instead of a population.",
        ),
    ] = None,
    noise_free: Annotated[
        bool,
        typer.Option("--noise-free", help="No noise (ivar still describes --snr)."),
    ] = False,
    no_crlb: Annotated[
        bool, typer.Option("--no-crlb", help="Skip the Cramer-Rao bounds (faster).")
    ] = False,
    raw: Annotated[
        Path | None,
        typer.Option(
            "--raw",
            help="Also write raw FITS observations, a catalogue and the truth here.",
        ),
    ] = None,
    continuum: Annotated[
        bool,
        typer.Option(
            "--continuum", help="Raw spectra keep an un-normalised continuum."
        ),
    ] = False,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            help="Draw a solar dwarf, a metal-poor giant and a cool giant with the named lines (PNG).",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Generate a synthetic survey: labels from a population, noisy spectra, Cramer-Rao bounds, raw files."""
    from ..synth.population import sample_population
    from ..synth.raw import write_raw_observations
    from ..synth.setups import get_setup
    from ..synth.survey import population_from_table, synthesize, write_survey

    get_setup(setup)
    if output is None and plot is None:
        raise ValueError("-o/--output: give a dataset file to write (or --plot only)")
    if plot is not None:
        draw_examples(setup, plot)
        console.print(f"wrote {plot}")
    if output is None:
        return
    lo_hi = _parse_snr(snr)
    ids = None
    if labels_from is not None:
        pop, ids = population_from_table(labels_from, snr=lo_hi[0])
    else:
        pop = sample_population(n, kind=population.value, seed=seed, snr=lo_hi)
    total = len(pop)
    with _progress("synth", total, quiet) as progress:
        task = progress.add_task("synth", total=total)
        written = write_survey(
            output,
            synthesize(
                pop,
                setup=setup,
                noise=not noise_free,
                with_crlb=not no_crlb,
                seed=seed,
                ids=ids,
                progress=lambda k: progress.update(task, advance=k),
            ),
        )
    console.print(
        f"wrote {output}: {written} spectra ({setup}, {pop.meta['population'][0] if labels_from else population.value})"
    )
    if raw is not None:
        with _progress(
            "raw", total * (len(get_setup(setup).natives) + 1), quiet
        ) as progress:
            task = progress.add_task(
                "raw", total=total * (len(get_setup(setup).natives) + 1)
            )
            files, catalogue, truth = write_raw_observations(
                raw,
                pop,
                setup=setup,
                seed=seed,
                continuum=continuum,
                ids=ids,
                progress=lambda k: progress.update(task, advance=k),
            )
        console.print(
            f"wrote {len(files)} raw FITS spectra, {catalogue} and {truth} to {raw}"
        )


def draw_examples(setup: str, path: Path) -> None:
    """The figure of ``synth --plot``: three stars over the setup with named lines."""
    import torch

    from .._atomic import atomic_path
    from ..diagnostics.plots.spectra import EXAMPLE_STARS, plot_spectra_with_lines
    from ..synth.atoms import load_linelist
    from ..synth.physics import SpectrumGenerator

    gen = SpectrumGenerator(setup)
    with torch.no_grad():
        flux = gen(torch.tensor(list(EXAMPLE_STARS.values()))).cpu().numpy()
    lines = load_linelist()
    named = [
        (w, f"{s} {'I' * i} {w:.1f}")
        for w, s, i, q in zip(
            lines.wavelength, lines.species, lines.ion, lines.quality, strict=True
        )
        if q == "named"
    ]
    ranges = []
    for seg in gen.setup.grid.segments:
        edges = np.linspace(seg[0], seg[-1], 3 if seg[-1] - seg[0] > 200 else 2)
        ranges += list(zip(edges[:-1], edges[1:], strict=True))
    fig, _ = plot_spectra_with_lines(
        gen.setup.grid.wavelength, flux, list(EXAMPLE_STARS), named, ranges=ranges
    )
    fig.suptitle(
        f"starlabel synthetic spectra, {setup} (R per segment {gen.setup.resolution})",
        y=1.0,
    )
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png", bbox_inches="tight")


from . import autoencoder as _autoencoder  # noqa: E402, F401  (registers `edit`)
from . import diagnose as _diagnose  # noqa: E402, F401  (explain, map, report)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
