"""Hyperparameter search benchmark (issue 17): does `starlabel tune` beat the presets?

1. A ``--cnn-trials`` CNN search and a ``--cinn-trials`` cINN search (``starlabel.tuning``,
   TPE, median pruning, objective = validation loss) on a 4000 / 1000 Galactic survey
   (HR10+HR21, seeds 21/22), each stopped by ``--timeout`` (default 1 h); prints trials
   complete / pruned / failed, the share pruned and the time pruning saved.
2. Trains the best configuration (its ``best.toml``) and the default preset on the
   8000 / 2000 / 2000 survey of the CNN and cINN benchmarks (seeds 11/12/13, test set
   with Cramer-Rao bounds) and prints per label the test std and std / CRLB of both,
   and on how many of the 5 labels the tuned one is better (target: >= 4).

    python benchmarks/tune_benchmark.py                         # the issue's sizes, hours
    python benchmarks/tune_benchmark.py --n-search 400 100 --n-final 800 200 200 \\
        --cnn-trials 4 --cinn-trials 3 --max-epochs 3 --timeout 600   # a functional run

The studies live in ``--cache``/tune-*/study.db: a rerun continues them.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from cnn_benchmark import LABELS, print_peak, survey, surveys  # noqa: E402  (same folder)

from starlabel.diagnostics.metrics import label_metrics
from starlabel.models import build_estimator, read_run_config
from starlabel.tuning import tune


def search(kind: str, args, cache: Path) -> Path:
    train = survey(cache, args.n_search[0], 21, crlb=False)
    valid = survey(cache, args.n_search[1], 22, crlb=False)
    out = cache / f"tune-{kind}-{args.n_search[0]}-e{args.max_epochs}"
    trials = args.cnn_trials if kind == "cnn" else args.cinn_trials
    t0 = time.perf_counter()

    def show(t: dict) -> None:
        value = "-" if t["value"] is None else f"{t['value']:.4f}"
        print(
            f"  {kind} trial {t['number']:3d} {t['state']:8s} {value:>8s} "
            f"{t['epochs']:3d} epochs {t['seconds']:6.0f} s {t['error'][:60]}",
            flush=True,
        )

    result = tune(
        train,
        valid,
        out,
        model=kind,
        labels=list(LABELS),
        trials=trials,
        timeout=args.timeout,
        max_epochs=args.max_epochs,
        on_trial=show,
    )
    wall = time.perf_counter() - t0
    finished = result.n_complete + result.n_pruned
    print(
        f"\n{kind} search: {result.ran} trials run now in {wall / 60:.1f} min; study "
        f"{result.n_complete} complete, {result.n_pruned} pruned "
        f"({100 * result.n_pruned / max(finished, 1):.0f} % of finished), "
        f"{result.n_failed} failed; best trial {result.best_number}: loss "
        f"{result.best_value:.4f}"
    )
    print(
        f"  pruning saved ~{result.pruned_epochs_saved:.0f} epochs = "
        f"~{result.seconds_saved / 60:.1f} min against the median complete trial"
    )
    for k, v in sorted(result.best_params.items()):
        print(f"  {k} = {v}")
    return out / "best.toml"


def final(kind: str, best: Path, args, cache: Path) -> None:
    train, valid, test = surveys(cache, *args.n_final)
    good = test.meta["snr"] >= 0
    default = build_estimator(kind, labels=list(LABELS))
    runs = {
        "default preset": default,
        # searched with --max-epochs per trial; trained here as long as the preset
        "tuned (best.toml)": build_estimator(
            run=read_run_config(best), max_epochs=default.config.train.max_epochs
        ),
    }
    stds: dict[str, list[float]] = {}
    for name, est in runs.items():
        if kind == "cnn":  # the CNN benchmark's ensemble size, for both
            est = build_estimator(
                run=est.run_config(), ensemble=args.members, keep=args.members
            )
        t0 = time.perf_counter()
        est.fit(train, valid)
        wall = time.perf_counter() - t0
        pred = est.predict(test)
        print(f"\n{kind} {name}: trained in {wall / 60:.1f} min")
        print(f"  {'label':6s} {'std':>9s} {'std/CRLB':>9s}")
        stds[name] = []
        for k, label in enumerate(LABELS):
            m = label_metrics(
                label,
                pred.mean[good, k],
                test.labels[label][good],
                crlb=test.labels_crlb[label][good],
            )
            print(f"  {label:6s} {m.std:9.4g} {m.sigma_over_crlb:9.2f}")
            stds[name].append(m.std)
    a, b = (np.array(v) for v in stds.values())
    better = [lab for lab, x, y in zip(LABELS, a, b, strict=True) if y < x]
    print(
        f"\n{kind}: tuned beats the default preset on {len(better)}/{len(LABELS)} "
        f"labels ({', '.join(better) or 'none'}); target >= 4"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", type=Path, default=Path(__file__).parent / ".cache")
    ap.add_argument("--models", nargs="+", default=["cnn", "cinn"])
    ap.add_argument("--n-search", nargs=2, type=int, default=[4000, 1000])
    ap.add_argument("--n-final", nargs=3, type=int, default=[8000, 2000, 2000])
    ap.add_argument("--cnn-trials", type=int, default=40)
    ap.add_argument("--cinn-trials", type=int, default=30)
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds per search")
    ap.add_argument("--max-epochs", type=int, default=20, help="per trial")
    ap.add_argument("--members", type=int, default=2, help="cnn final ensembles")
    ap.add_argument("--search-only", action="store_true")
    args = ap.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    print_peak()
    for kind in args.models:
        best = search(kind, args, args.cache)
        if not args.search_only:
            final(kind, best, args, args.cache)


if __name__ == "__main__":
    main()
