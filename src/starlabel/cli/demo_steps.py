"""Demo steps 4-13 on the public API: models, catalogues, evaluation, saliency,
similarity map, report. Each writes into the demo folder (replacing an earlier
demo's files) and prints what it did."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from rich.markup import escape
from rich.table import Table

from ..diagnostics.report_eval import write_evaluation
from ..inference import predict_file
from ..models import build_estimator
from ..spectra import read_dataset
from ._app import console, warn
from .evaluate import calibration_table, leakage_table, metrics_table

LABELS = ["teff", "logg", "fe_h", "mg_fe", "al_fe"]


def _train(kind: str, out: Path, paths: dict, labels=LABELS, **settings):
    est = build_estimator(kind, labels=labels, show_progress=True, **settings)
    est.fit(read_dataset(paths["train"]), read_dataset(paths["valid"]))
    for message in est.fit_warnings_:
        warn(message)
    return est, est.save(out / f"model-{kind}", overwrite=True)


def _evaluate(catalogue: Path, truth: Path, folder: Path, model=None) -> None:
    result = write_evaluation(
        catalogue, truth, folder, model=model, n_draws=100, overwrite=True
    )
    console.print(metrics_table(result.metrics, full=False))
    console.print(calibration_table(result.bins, ["teff", "logg", "fe_h"]), width=150)
    console.print("   plots: " + ", ".join(str(f) for f in result.files[1:]))


def demo_cnn(out: Path, paths: dict, truth: Path, *, quick: bool, seed: int) -> Path:
    """Steps 4-6: a small CNN ensemble, its catalogue and its evaluation."""
    est, model_dir = _train(
        "cnn",
        out,
        paths,
        preset="fast",
        seed=seed,
        ensemble=2,
        keep=2,
        max_epochs=15 if quick else 80,
        patience=20,
    )
    console.print(
        f"4. trained a CNN deep ensemble (preset fast, 2 members, at most "
        f"{est.config.train.max_epochs} epochs; a demo-sized run, not a science model) -> {model_dir}"
    )
    catalogue = out / "catalogue-test.fits"
    counts = predict_file(est, paths["test"], catalogue, overwrite=True)
    console.print(
        f"5. labelled the test set -> {catalogue} ({counts['n_spectra']} stars, "
        f"{counts['n_not_processed']} not processed)"
    )
    console.print(
        "6. evaluated against the truth (std/CRLB = 1 is the best any method can do):"
    )
    _evaluate(catalogue, truth, out / "evaluation")
    console.print(
        "   _err is calibrated on the validation stars (sigma^2 = (a _err_raw)^2 + b^2 + (c (100/snr)^p)^2, "
        "per label in model.json); in brackets the z std of _err_raw, the ensemble's own spread, "
        "which alone underestimates the error many times"
    )
    return catalogue


def demo_library(out: Path, *, quick: bool, seed: int) -> dict[str, Path]:
    """Step 3b: a synthetic spectral library (train and valid files) whose
    abundances are drawn independently of each other and of [Fe/H]: what a model
    must learn from to tell one element's lines from another's."""
    from ..synth.population import sample_population
    from ..synth.survey import synthesize, write_survey

    sizes = {"train": 400, "valid": 100} if quick else {"train": 8000, "valid": 1000}
    paths = {}
    for k, (part, n) in enumerate(sizes.items()):
        s = seed + 202 + k
        pop = sample_population(n, kind="decorrelated", seed=s, snr=(10.0, 150.0))
        paths[part] = out / f"library-{part}.h5"
        write_survey(
            paths[part],
            synthesize(pop, setup="giraffe-hr10-hr21", with_crlb=False, seed=s),
            overwrite=True,
        )
    console.print(
        f"3b. synthesised a spectral library like the survey's stars (S/N 10-150) with every "
        f"[X/Fe] drawn independently: {sizes['train']} train -> {paths['train']}, "
        f"{sizes['valid']} valid -> {paths['valid']}; the spectrum emulator learns from it, "
        "since a model trained on the survey's correlated abundances reads one element "
        "from another's lines"
    )
    return paths


def demo_own_lines(out: Path, *, quick: bool, seed: int) -> None:
    """Step 10b: the CNN and its refinement on stars whose abundances break the
    training correlations."""
    from ..inference import refine_file
    from ..models import load
    from ..synth.population import sample_population
    from ..synth.survey import synthesize, write_survey

    n = 60 if quick else 300
    pop = sample_population(n, kind="decorrelated", seed=seed + 101, snr=(30.0, 150.0))
    data = out / "break-test.h5"
    write_survey(
        data,
        synthesize(pop, setup="giraffe-hr10-hr21", with_crlb=True, seed=seed + 101),
        overwrite=True,
    )
    console.print(
        f"10b. do the abundances follow their own lines? {n} stars like the survey's "
        f"(S/N 30-150) with every [X/Fe] drawn independently ({data}): a model that "
        "reads an abundance from the lines of correlated elements returns the "
        "population's prior here"
    )
    cnn = out / "catalogue-break.fits"
    predict_file(load(out / "model-cnn"), data, cnn, overwrite=True)
    refined = out / "catalogue-break-refined.fits"
    refine_file(load(out / "model-emulator"), data, refined, start=cnn, overwrite=True)
    for title, catalogue in (
        ("the CNN (trained on the survey's stars)", cnn),
        ("the CNN refined by the emulator (trained on the library)", refined),
    ):
        folder = out / catalogue.stem.replace("catalogue-", "evaluation-")
        result = write_evaluation(catalogue, data, folder, overwrite=True)
        console.print(f"   {title}:")
        console.print(leakage_table(result.leakage), width=150)


def demo_cinn(out: Path, paths: dict, truth: Path, *, quick: bool, seed: int) -> Path:
    """Steps 7-8: a cINN, its Precision-mode catalogue and its calibration."""
    est, model_dir = _train(
        "cinn", out, paths, seed=seed, max_epochs=3 if quick else 40
    )
    n_ext, n_int = (5, 50) if quick else (10, 100)
    catalogue = out / "catalogue-test-cinn.fits"
    options = est.predict_options(
        mode="precision", n_external=n_ext, n_internal=n_int, seed=seed
    )
    predict_file(est, paths["test"], catalogue, options=options, overwrite=True)
    console.print(
        f"7. trained a cINN (default preset, at most {est.config.train.max_epochs} epochs) -> "
        f"{model_dir}; Precision-mode catalogue ({n_ext} noisy copies x {n_int} draws per star; "
        f"the paper uses 20 x 250) -> {catalogue}"
    )
    console.print(
        "8. evaluated the cINN (Precision mode, _err_raw = the posterior width, calibrated on the "
        "validation stars); z std near 1 and cov68 near 0.68 mean calibrated:"
    )
    _evaluate(catalogue, truth, out / "evaluation-cinn", model=est)
    return catalogue


def demo_gandalf(
    out: Path, paths: dict, truth: Path, *, quick: bool, seed: int
) -> Path:
    """Step 9: a small disentangling autoencoder, its catalogue and one edited spectrum."""
    from ..diagnostics.plots.latent import write_edited_spectrum

    est, model_dir = _train(
        "gandalf",
        out,
        paths,
        preset="fast",
        seed=seed,
        disentangle=("teff", "logg"),
        entangle=("fe_h", "mg_fe"),
        adversary="uniform",  # removes teff from z, so that editing teff acts
        max_epochs=3 if quick else 30,
    )
    catalogue = out / "catalogue-test-gandalf.fits"
    predict_file(est, paths["test"], catalogue, overwrite=True)
    test = read_dataset(paths["test"])
    star = int(np.nanargmin(np.abs(test.labels["teff"] - 5000)))
    teff = float(test.labels["teff"][star])
    edit = est.edit(test, star, {"teff": teff + 1000})
    write_edited_spectrum(edit, out / "edited.png", dpi=90)
    r2 = ", ".join(f"{k} {v:.2f}" for k, v in est.latent_r2_.items())
    console.print(
        f"9. trained a disentangling autoencoder (teff, logg disentangled with the uniform-confusion "
        f"adversary; fe_h, mg_fe entangled; {est.config.max_epochs} epochs) -> {model_dir}; R^2 of "
        f"each label from the latent space: {r2}; catalogue -> {catalogue}; star {edit.star_id} "
        f"redrawn at Teff {teff:.0f} -> {teff + 1000:.0f} K -> {out / 'edited.png'}"
    )
    console.print("   evaluated the autoencoder's catalogue:")
    _evaluate(catalogue, truth, out / "evaluation-gandalf")
    return catalogue


def demo_refine(
    out: Path,
    paths: dict,
    library: dict,
    truth: Path,
    start: Path,
    *,
    quick: bool,
    seed: int,
) -> Path:
    """Step 10: a spectrum emulator trained on the library, the per-star fit of the
    CNN catalogue, the before/after table and the best-fit spectra of two stars."""
    from ..diagnostics.fits import write_star_fits
    from ..diagnostics.metrics import evaluate
    from ..inference import read_catalogue_table, refine_file

    est, model_dir = _train(
        "emulator",
        out,
        library,
        labels=None,
        preset="fast",
        seed=seed,
        max_epochs=10 if quick else 100,
    )
    catalogue = out / "catalogue-test-refined.fits"
    counts = refine_file(est, paths["test"], catalogue, start=start, overwrite=True)
    test = read_dataset(paths["test"])
    ref = read_catalogue_table(catalogue)
    order = np.argsort(np.asarray(ref["chi2"], dtype=float))
    show = [str(ref["id"][order[len(order) // 2]]), str(ref["id"][order[-1]])]
    write_star_fits(est, test, ref, show, out / "refined-fits.png")
    err = est.error_per_pixel()
    console.print(
        f"10. trained a spectrum emulator on the library ({est.summary()['network']}; held-out error per pixel: "
        f"median {np.median(err['error']):.1e}, against a median noise of "
        f"{np.median(err['median_noise']):.1e}) -> {model_dir}; fitted every test spectrum with it, "
        f"starting from the CNN's labels -> {catalogue} ({counts['n_not_converged']} fits not converged, "
        f"{counts['n_at_bound']} on a bound); best-fit spectra of a typical and the worst-fitting star "
        f"-> {out / 'refined-fits.png'}"
    )
    truth_set = read_dataset(truth)
    before = {m.name: m for m in evaluate(read_catalogue_table(start), truth_set)}
    after = {m.name: m for m in evaluate(ref, truth_set)}
    table = Table(
        "label",
        "CNN std",
        "refined std",
        "CNN std/CRLB",
        "refined std/CRLB",
        "refined z std",
        title="CNN catalogue before and after the per-star emulator fit (test stars)",
    )
    for name in LABELS:
        if name in before and name in after:
            b, a = before[name], after[name]
            table.add_row(
                escape(name),
                f"{b.std:.3g} {b.unit}",
                f"{a.std:.3g} {a.unit}",
                f"{b.sigma_over_crlb:.2f}",
                f"{a.sigma_over_crlb:.2f}",
                f"{a.z_std:.2f}",
            )
    console.print(table)
    return catalogue


def demo_explain(out: Path, paths: dict, *, quick: bool, seed: int) -> Path:
    """Step 11: saliency of the CNN ensemble and the lines behind each label."""
    from ..diagnostics.explain import explain
    from ..models import load

    res = explain(
        load(out / "model-cnn"),
        read_dataset(paths["test"]),
        out / "explain",
        n_stars=30 if quick else 200,
        seed=seed,
        overwrite=True,
    )
    share = res.own_shares()
    console.print(
        f"11. saliency of the CNN ensemble -> {out / 'explain'}; share of each abundance's 10 strongest "
        f"saliency peaks on its own element's lines: {share}"
    )
    return out / "explain"


def demo_map(
    out: Path, paths: dict, catalogue: Path, *, quick: bool, seed: int
) -> Path:
    """Step 12: the similarity map of the training set with the test stars placed in
    it, and ``ood_score`` added to the CNN catalogue."""
    from ..diagnostics.mapping import build_map, ood_scorer
    from ..models import load

    result = build_map(
        read_dataset(paths["train"]),
        out / "map",
        read_dataset(paths["test"]),
        n_components=20 if quick else 50,
        seed=seed,
        overwrite=True,
    )
    counts = predict_file(
        load(out / "model-cnn"),
        paths["test"],
        catalogue,
        ood_score=functools.partial(ood_scorer, out / "map" / "map.safetensors"),
        overwrite=True,
    )
    inner = result.inner
    console.print(
        f"12. similarity map (t-SNE of {result.n_train} training spectra) with the {inner.size} test "
        f"stars placed in it -> {out / 'map'}: {int(inner.sum())} training-like, "
        f"{int((~inner).sum())} unlike; ood_score added to {catalogue} ({counts.get('n_ood', 0)} above 1)"
    )
    return out / "map"


def demo_report(out: Path, catalogues: list[Path], truth: Path) -> Path:
    """Step 13: the HTML report and the summary table."""
    from ..diagnostics.metrics import evaluate
    from ..diagnostics.report import write_report
    from ..inference import read_catalogue_table

    path = write_report(
        catalogues,
        truth,
        out / "report.html",
        explain_dir=out / "explain",
        map_dir=out / "map",
        fits=out / "refined-fits.png",
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
            cat.stem.replace("catalogue-test", "cnn")
            .replace("cnn-", "")
            .replace("refined", "cnn refined by the emulator"),
            *(f"{m[n].std:.3g} {m[n].unit}" if n in m else "-" for n in LABELS),
        )
    console.print(table)
    console.print(f"13. report -> [bold]{path}[/]")
    return path
