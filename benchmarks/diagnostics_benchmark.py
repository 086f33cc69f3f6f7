"""Diagnostics benchmark: which lines each label relies on, and how well we flag stars
unlike the training set.

1. Saliency: trains a CNN ensemble (preset ``fast``) on the cached Galactic survey
   (8000 stars, HR10+HR21 8669 px, labels teff, logg, fe_h and six abundances; cached
   in --cache) and prints, per label, the 10 strongest saliency peaks matched to the
   package line list and, per abundance, the share of them on its own element's lines
   against the share expected by chance.
2. Out-of-distribution flags: trains a similarity map on the stars with [Fe/H] > -1.5
   only, places the 2000 test stars (all metallicities) and prints the AUROC for
   picking the stars whose true labels lie outside the training ranges with (a) the
   PCA neighbour distance (``ood_score``, no t-SNE) and (b) the distance in the t-SNE
   map after ``transform``; plus what share of each group the score > 1 flags.

    python benchmarks/diagnostics_benchmark.py     # from the repository root or benchmarks/
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from cnn_benchmark import survey  # noqa: E402

from starlabel.diagnostics.explain import explain  # noqa: E402
from starlabel.diagnostics.similarity import SimilarityMap  # noqa: E402
from starlabel.models import load  # noqa: E402
from starlabel.models.cnn import PRESETS, DeepEnsembleRegressor  # noqa: E402
from starlabel.spectra import read_dataset  # noqa: E402
from starlabel.spectra.preprocess import dense_flux  # noqa: E402

LABELS = ("teff", "logg", "fe_h", "mg_fe", "al_fe", "si_fe", "ca_fe", "ti_fe", "ni_fe")
RANGE_LABELS = ("teff", "logg", "fe_h", "mg_fe", "al_fe")


def saliency_part(args, train, valid, test) -> None:
    model_dir = args.cache / f"model-cnn-fast-{args.members}m-{args.max_epochs}ep"
    if model_dir.exists():
        model = load(model_dir)
        print(f"loaded {model_dir}")
    else:
        cfg = PRESETS["fast"]
        cfg = replace(
            cfg,
            n_members=args.members,
            n_keep=args.members,
            train=replace(cfg.train, max_epochs=args.max_epochs),
        )
        t0 = time.perf_counter()
        model = DeepEnsembleRegressor(
            cfg, labels=LABELS, random_state=0, show_progress=True
        )
        model.fit(train, valid)
        model.save(model_dir)
        print(f"trained {model_dir.name} in {(time.perf_counter() - t0) / 60:.1f} min")
    pred = model.predict(test)
    for k, name in enumerate(LABELS):
        print(
            f"  test std {name}: {np.nanstd(pred.mean[:, k] - test.labels[name]):.3g}"
        )
    t0 = time.perf_counter()
    res = explain(
        model, test, args.out / "explain", n_stars=args.n_stars, seed=0, overwrite=True
    )
    print(
        f"\nsaliency of {args.n_stars} test stars in {time.perf_counter() - t0:.0f} s -> {args.out / 'explain'}"
    )
    print(
        f"{'label':7s} {'own-element share of top 10':>28s} {'chance':>7s}  strongest matched lines"
    )
    for name in LABELS:
        own, chance = res.own_fraction[name]
        lines = ", ".join(
            f"{p.species}{'I' * p.ion} {p.line_wavelength:.1f}"
            if p.species
            else f"- {p.wavelength:.1f}"
            for p in res.peaks[name][:6]
        )
        cell = f"{own:.0%}" if np.isfinite(own) else "-"
        ch = f"{chance:.0%}" if np.isfinite(chance) else "-"
        print(f"{name:7s} {cell:>28s} {ch:>7s}  {lines}")


def ood_part(args, train, test) -> None:
    from sklearn.metrics import roc_auc_score

    keep = train.labels["fe_h"] > -1.5
    tr = train[np.flatnonzero(keep)[: args.map_train]]
    ranges = {
        n: (np.nanmin(tr.labels[n]), np.nanmax(tr.labels[n])) for n in RANGE_LABELS
    }
    outside = np.zeros(test.n_spectra, bool)
    for n, (lo, hi) in ranges.items():
        v = test.labels[n]
        outside |= (v < lo) | (v > hi)
    t0 = time.perf_counter()
    smap = SimilarityMap.fit(dense_flux(tr)[0], seed=0)
    fit_s = time.perf_counter() - t0
    flux = dense_flux(test)[0]
    t0 = time.perf_counter()
    score = smap.ood_score(flux)
    score_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    xy = smap.transform(flux)
    dist = smap.distance(xy)
    map_s = time.perf_counter() - t0
    snr = test.meta["snr"].astype(float)
    print(
        f"\nOOD: map trained on {tr.n_spectra} stars with [Fe/H] > -1.5 (t-SNE fit {fit_s:.0f} s); "
        f"test {test.n_spectra} stars, {outside.sum()} with a true label outside the training ranges"
    )
    print(
        f"{'score':42s} {'AUROC':>6s} {'AUROC S/N>=30':>14s} {'flagged: outside':>17s} {'inside':>7s} {'time':>7s}"
    )
    for name, s, flag, secs in (
        ("PCA neighbour distance (ood_score)", score, score > 1, score_s),
        ("t-SNE map distance after transform", dist, dist > smap.threshold, map_s),
    ):
        hi = snr >= 30
        print(
            f"{name:42s} {roc_auc_score(outside, s):6.3f} {roc_auc_score(outside[hi], s[hi]):14.3f} "
            f"{flag[outside].mean():17.0%} {flag[~outside].mean():7.0%} {secs:6.1f}s"
        )
    halo = test.labels["fe_h"] < -1.5
    print(
        f"  ood_score median: [Fe/H] < -1.5 {np.median(score[halo]):.2f}, others {np.median(score[~halo]):.2f}"
    )


def main() -> None:
    sys.stdout.reconfigure(line_buffering=True)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=2)
    ap.add_argument("--n-stars", type=int, default=500)
    ap.add_argument("--max-epochs", type=int, default=40)
    ap.add_argument("--map-train", type=int, default=5000)
    ap.add_argument("--skip-saliency", action="store_true")
    ap.add_argument("--cache", type=Path, default=Path(__file__).parent / ".cache")
    ap.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "out" / "diagnostics"
    )
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    train = read_dataset(survey(args.cache, 8000, 11, crlb=False))
    valid = read_dataset(survey(args.cache, 2000, 12, crlb=False))
    test = read_dataset(survey(args.cache, 2000, 13, crlb=True))
    if not args.skip_saliency:
        saliency_part(args, train, valid, test)
    ood_part(args, train, test)


if __name__ == "__main__":
    main()
