"""Disentangling autoencoder (GANDALF method) benchmark: the paper's Table 1 on our survey.

On the cached Galactic synthetic survey (HR10+HR21, 8669 px; same train/valid/test as
``cnn_benchmark.py``), regresses teff, logg, fe_h, mg_fe with the paper's MLP
(200 -> 100, scikit-learn) from (i) the spectra, (ii) the plain latent (all lambda = 0),
(iii) the latent with teff, logg disentangled and fe_h, mg_fe entangled, (iv) the
reverse; prints per input the mean, mean absolute and std of the test residuals and
the regressor's training time; per model the held-out R^2 of every label from z and
the reconstruction error. Writes t-SNE maps of test spectra and latents coloured by
label (paper Fig. 8) and an edited spectrum (paper Fig. 2) to --out.

    python benchmarks/gandalf_benchmark.py                  # from the benchmarks folder
    python benchmarks/gandalf_benchmark.py --n-train 2000 --n-valid 500 --n-test 500 \
        --max-epochs 5                                      # a quick look
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from cnn_benchmark import print_peak, survey  # noqa: E402  (same folder)

from starlabel.diagnostics.plots.latent import plot_edited_spectrum, plot_label_maps
from starlabel.diagnostics.similarity import tsne
from starlabel.models.gandalf import GANDALF_PRESETS, LatentAutoencoder
from starlabel.models.latent import fit_dense_regressor, r2_per_label
from starlabel.spectra import read_dataset
from starlabel.spectra.preprocess import dense_flux

TARGETS = ("teff", "logg", "fe_h", "mg_fe")
UNITS = {"teff": "K", "logg": "dex", "fe_h": "dex", "mg_fe": "dex"}
VARIANTS = {
    "plain latent (all lambda 0)": ((), ()),
    "latent: teff,logg dis. / fe_h,mg_fe ent.": (("teff", "logg"), ("fe_h", "mg_fe")),
    "latent: fe_h,mg_fe dis. / teff,logg ent.": (("fe_h", "mg_fe"), ("teff", "logg")),
}


def row(name: str, pred: np.ndarray, truth: np.ndarray, seconds: float) -> None:
    res = pred - truth
    cells = "  ".join(
        f"{np.mean(res[:, k]):+8.3f} {np.mean(np.abs(res[:, k])):7.3f} {np.std(res[:, k]):7.3f}"
        for k in range(len(TARGETS))
    )
    print(f"{name:44s} {cells}  {seconds:7.1f}")


def main() -> None:
    sys.stdout.reconfigure(line_buffering=True)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-train", type=int, default=8000)
    ap.add_argument("--n-valid", type=int, default=2000)
    ap.add_argument("--n-test", type=int, default=2000)
    ap.add_argument("--max-epochs", type=int, default=30)
    ap.add_argument("--strength", type=float, default=0.1, help="|lambda|")
    ap.add_argument("--adversary", default="paper", choices=["paper", "uniform"])
    ap.add_argument(
        "--skip-spectra", action="store_true", help="no regression from spectra"
    )
    ap.add_argument("--skip-plain", action="store_true", help="no plain-latent model")
    ap.add_argument("--cache", type=Path, default=Path(__file__).parent / ".cache")
    ap.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "out" / "gandalf"
    )
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    print_peak()
    print(
        f"adversary {args.adversary}, |lambda| {args.strength}, {args.max_epochs} epochs"
    )
    train = read_dataset(survey(args.cache, args.n_train, 11, crlb=False))
    valid = read_dataset(survey(args.cache, args.n_valid, 12, crlb=False))
    test = read_dataset(survey(args.cache, args.n_test, 13, crlb=True))
    y_train, y_test = train.label_array(TARGETS), test.label_array(TARGETS)
    x_train, x_test = dense_flux(train)[0], dense_flux(test)[0]

    rows, latents, models = [], {}, {}
    if not args.skip_spectra:
        reg = fit_dense_regressor(x_train, y_train, seed=0)
        rows.append(("spectra (8669 px)", reg.predict(x_test), reg.fit_seconds))
    for name, (dis, ent) in VARIANTS.items():
        if args.skip_plain and not dis:
            continue
        cfg = replace(
            GANDALF_PRESETS["santovena2025"],
            disentangle=dis,
            entangle=ent,
            strength=args.strength,
            adversary=args.adversary,
            max_epochs=args.max_epochs,
        )
        t0 = time.perf_counter()
        model = LatentAutoencoder(
            cfg, labels=TARGETS, random_state=0, show_progress=True
        )
        model.fit(train, valid)
        train_s = time.perf_counter() - t0
        z_train, z_test = model.encode(train), model.encode(test)
        reg = fit_dense_regressor(z_train, y_train, seed=0)
        pred = reg.predict(z_test)
        rows.append((name, pred, reg.fit_seconds))
        latents[name], models[name] = z_test, model
        h = model.history_[0]["epochs"][-1]
        r2 = r2_per_label(y_test, pred)
        print(
            f"{name}: trained {train_s / 60:.1f} min ({cfg.max_epochs} epochs); valid MSE "
            f"(standardised flux) {h['valid_mse']:.4f}; discriminator accuracy "
            f"{[round(a, 2) for a in h['discriminator_accuracy']]} (chance {1 / cfg.n_bins:.2f})"
        )
        print(
            "  R^2 of each label from z (held-out valid, model's regressor): "
            + ", ".join(f"{k} {v:.3f}" for k, v in model.latent_r2_.items())
            + " | test: "
            + ", ".join(f"{k} {v:.3f}" for k, v in zip(TARGETS, r2, strict=True))
        )

    print()
    print(
        "Regression of the test stars' labels (MLP 200 -> 100); residual = predicted - true"
    )
    head = "  ".join(f"{t + ' [' + UNITS[t] + ']':>23s}" for t in TARGETS)
    print(f"{'input':44s} {head}  fit [s]")
    print(
        f"{'':44s} "
        + "  ".join(f"{'mean':>8s} {'|mean|':>7s} {'std':>7s}" for _ in TARGETS)
    )
    for name, pred, seconds in rows:
        row(name, pred, y_test, seconds)

    # t-SNE maps (paper Fig. 8) of the first 2000 test stars.
    n = min(2000, test.n_spectra)
    t0 = time.perf_counter()
    maps = {"spectra": tsne(x_test[:n] - x_test[:n].mean(0), seed=0)}
    for name, z in latents.items():
        maps[name.replace("latent: ", "").replace(" / ", "\n")] = tsne(z[:n], seed=0)
    colours = {t: y_test[:n, k] for k, t in enumerate(TARGETS)}
    fig, _ = plot_label_maps(maps, colours, UNITS)
    fig.savefig(args.out / "tsne_maps.png", dpi=90)
    print(
        f"\nt-SNE maps ({n} stars, {time.perf_counter() - t0:.0f} s): {args.out / 'tsne_maps.png'}"
    )

    # An edited spectrum (paper Fig. 2): a giant made 1000 K hotter, with the model
    # that removes teff from z (so the decoder must take it from its label input).
    model = models["latent: teff,logg dis. / fe_h,mg_fe ent."]
    giants = np.flatnonzero((test.labels["logg"] < 3.0) & (test.meta["snr"] > 50))
    star = int(giants[0]) if giants.size else 0
    teff = float(test.labels["teff"][star])
    edit = model.edit(test, star, {"teff": teff + 1000})
    same = model.edit(test, star, {})
    fig, _ = plot_edited_spectrum(edit)
    fig.savefig(args.out / "edited_spectrum.png", dpi=90)
    seg = np.abs(edit.edited - edit.reconstruction)
    print(
        f"edited {edit.star_id} teff {teff:.0f} -> {teff + 1000:.0f} K: max |edited - reconstruction| "
        f"{seg.max():.3f}, rms {np.sqrt(np.mean(seg**2)):.4f}; rms |reconstruction - observed| "
        f"{np.sqrt(np.mean((edit.reconstruction - edit.original) ** 2)):.4f}; unchanged labels give "
        f"the reconstruction to {np.abs(same.edited - same.reconstruction).max():.1e}; "
        f"{args.out / 'edited_spectrum.png'}"
    )


if __name__ == "__main__":
    main()
