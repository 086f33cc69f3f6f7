"""Demo steps 9-12: disentangling autoencoder, saliency, similarity map, HTML report."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from rich.markup import escape
from rich.table import Table

from .._atomic import atomic_path
from ._app import console

LABELS = ["teff", "logg", "fe_h", "mg_fe", "al_fe"]


def demo_gandalf(out: Path, parts: dict, *, quick: bool, seed: int) -> Path:
    """Step 9: a small disentangling autoencoder, its catalogue and one edited spectrum."""
    from ..diagnostics.plots.latent import plot_edited_spectrum
    from ..inference import predict_file
    from ..models.gandalf import GANDALF_PRESETS, LatentAutoencoder
    from ..spectra.io.hdf5 import read_dataset

    cfg = replace(
        GANDALF_PRESETS["fast"],
        disentangle=("teff", "logg"),
        entangle=("fe_h", "mg_fe"),
        adversary="uniform",  # removes teff from z, so that editing teff acts
        max_epochs=3 if quick else 30,
    )
    est = LatentAutoencoder(cfg, labels=LABELS, random_state=seed, show_progress=True)
    est.fit(read_dataset(parts["train"][0]), read_dataset(parts["valid"][0]))
    model_dir = est.save(out / "model-gandalf")
    catalogue = out / "catalogue-test-gandalf.fits"
    predict_file(est, parts["test"][0], catalogue)
    test = read_dataset(parts["test"][0])
    star = int(np.nanargmin(np.abs(test.labels["teff"] - 5000)))
    teff = float(test.labels["teff"][star])
    edit = est.edit(test, star, {"teff": teff + 1000})
    fig, _ = plot_edited_spectrum(edit)
    with atomic_path(out / "edited.png") as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    r2 = ", ".join(f"{k} {v:.2f}" for k, v in est.latent_r2_.items())
    console.print(
        f"9. trained a disentangling autoencoder (teff, logg disentangled with the uniform-confusion "
        f"adversary; fe_h, mg_fe entangled; "
        f"{cfg.max_epochs} epochs) -> {model_dir}; R^2 of each label from the latent space: {r2}; "
        f"catalogue -> {catalogue}; star {edit.star_id} redrawn at Teff {teff:.0f} -> {teff + 1000:.0f} K "
        f"-> {out / 'edited.png'}"
    )
    return catalogue


def demo_explain(out: Path, parts: dict, *, quick: bool, seed: int) -> Path:
    """Step 10: saliency of the CNN ensemble and the lines behind each label."""
    from ..diagnostics.explain import explain
    from ..models import load
    from ..spectra.io.hdf5 import read_dataset

    res = explain(
        load(out / "model-cnn"),
        read_dataset(parts["test"][0]),
        out / "explain",
        n_stars=30 if quick else 200,
        seed=seed,
    )
    share = ", ".join(
        f"{k} {v[0]:.0%} (chance {v[1]:.0%})"
        for k, v in res.own_fraction.items()
        if np.isfinite(v[0])
    )
    console.print(
        f"10. saliency of the CNN ensemble -> {out / 'explain'}; share of each abundance's 10 strongest "
        f"saliency peaks on its own element's lines: {share}"
    )
    return out / "explain"


def demo_map(out: Path, parts: dict, *, quick: bool, seed: int) -> Path:
    """Step 11: the similarity map of the training set with the test stars placed in it,
    and ``ood_score`` added to the CNN catalogue."""
    from ..diagnostics.plots.latent import plot_similarity_map
    from ..diagnostics.similarity import SimilarityMap
    from ..inference import predict_file
    from ..models import load
    from ..models._shared import dense_flux
    from ..spectra.io.hdf5 import read_dataset
    from .diagnose import map_summary

    train, test = read_dataset(parts["train"][0]), read_dataset(parts["test"][0])
    smap = SimilarityMap.fit(
        dense_flux(train)[0], n_components=20 if quick else 50, seed=seed
    )
    folder = out / "map"
    folder.mkdir(parents=True, exist_ok=True)
    smap.save(folder / "map.safetensors")
    flux = dense_flux(test)[0]
    xy = smap.transform(flux)
    inner = smap.is_inner(xy)
    score = smap.ood_score(flux)
    fig, _ = plot_similarity_map(
        smap.embedding,
        xy,
        inner,
        colour=train.labels["teff"][smap.fit_rows],
        colour_label="Teff [K]",
    )
    with atomic_path(folder / "map.png") as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    text = map_summary(train.n_spectra, inner, score)
    with atomic_path(folder / "summary.txt") as tmp:
        tmp.write_text(text, encoding="utf-8")
    counts = predict_file(
        load(out / "model-cnn"),
        parts["test"][0],
        out / "catalogue-test.fits",
        ood_score=lambda b: smap.ood_score(dense_flux(b)[0]),
    )
    console.print(
        f"11. similarity map (t-SNE of {train.n_spectra} training spectra) with the {test.n_spectra} test stars "
        f"placed in it -> {folder}: {int(inner.sum())} training-like, {int((~inner).sum())} unlike; "
        f"ood_score added to {out / 'catalogue-test.fits'} ({counts.get('n_ood', 0)} above 1)"
    )
    return folder


def demo_report(out: Path, catalogues: list[Path], truth: Path) -> Path:
    """Step 12: the HTML report and the summary table."""
    from ..diagnostics.metrics import evaluate
    from ..diagnostics.report import write_report
    from ..inference.catalogue import read_catalogue_table
    from ..spectra.io.hdf5 import read_dataset

    path = write_report(
        catalogues,
        truth,
        out / "report.html",
        explain_dir=out / "explain",
        map_dir=out / "map",
        title="starlabel demo: synthetic Galactic survey (HR10 + HR21)",
    )
    ref = read_dataset(truth)
    table = Table(
        "model",
        *(escape(n) for n in LABELS),
        title="std of test residuals (predicted - true)",
    )
    for cat in catalogues:
        m = {x.name: x for x in evaluate(read_catalogue_table(cat), ref)}
        table.add_row(
            cat.stem.replace("catalogue-test", "cnn").replace("cnn-", ""),
            *(f"{m[n].std:.3g} {m[n].unit}" if n in m else "-" for n in LABELS),
        )
    console.print(table)
    console.print(f"12. report -> [bold]{path}[/]")
    return path
