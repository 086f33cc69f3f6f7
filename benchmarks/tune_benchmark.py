"""Hyperparameter search benchmark (issue 17): does `starlabel tune` beat the presets?

1. A ``--cnn-trials`` CNN search and a ``--cinn-trials`` cINN search (``starlabel.tuning``,
   TPE, ``--pruner`` hyperband by default, ``--max-epochs`` 8 per trial, objective =
   validation loss) on a 4000 / 1000 Galactic survey (HR10+HR21, seeds 21/22), each
   stopped by ``--timeout`` (default 1 h); prints trials complete / pruned / failed,
   the share pruned and the time pruning saved.
2. Trains the best configuration (its ``best.toml``, as many epochs as the preset
   allows) and the default preset on the 8000 / 2000 / 2000 sets of the emulator
   benchmark (seeds 11/12/13, test set with Cramer-Rao bounds) and prints per label
   the test std and std / CRLB of both, and on how many of the 5 labels the tuned
   one is better (target: >= 4). CNNs: ``--members`` per ensemble for both.

    python benchmarks/tune_benchmark.py                         # the issue's sizes, hours
    python benchmarks/tune_benchmark.py --models cnn \
        --default-model cnn=benchmarks/.cache/emu-model-cnn-8000-None   # reuse a default
    python benchmarks/tune_benchmark.py --models cinn \
        --space cinn=benchmarks/cinn_space_cpu.toml --trial-timeout 300   # CPU-sized space
    python benchmarks/tune_benchmark.py --n-search 400 100 --n-final 800 200 200 \
        --cnn-trials 4 --cinn-trials 3 --max-epochs 3 --timeout 600   # a functional run

The studies live in ``--cache``/tune-*/study.db and the final models in
``--cache``/tune-final-*: a rerun continues the studies and loads the models.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from cnn_benchmark import LABELS, print_peak, survey, surveys  # noqa: E402  (same folder)

from starlabel import load
from starlabel.diagnostics.metrics import label_metrics
from starlabel.models import build_estimator, read_run_config
from starlabel.tuning import tune


def study_dir(kind: str, args, cache: Path) -> Path:
    space = args.space.get(kind)
    tag = f"-{space.stem}" if space else ""
    return (
        cache / f"tune-{kind}-{args.n_search[0]}-e{args.max_epochs}-{args.pruner}{tag}"
    )


def search(kind: str, args, cache: Path) -> Path:
    train = survey(cache, args.n_search[0], 21, crlb=False)
    valid = survey(cache, args.n_search[1], 22, crlb=False)
    out = study_dir(kind, args, cache)
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
        pruner=args.pruner,
        trial_timeout=args.trial_timeout,
        space_file=args.space.get(kind),
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


def final_sets(cache: Path, n_train: int, n_valid: int, n_test: int):
    """The 8000 / 2000 / 2000 sets of the emulator benchmark (seeds 11/12/13, the
    first n of 1.15 n generated): its saved default-preset models
    (``emu-model-<kind>-8000-None``) were trained on exactly these spectra."""
    train, valid, test = surveys(
        cache, int(n_train * 1.15), int(n_valid * 1.15), n_test
    )
    return train[:n_train], valid[:n_valid], test


def trained(
    path: Path, make, train, valid, n_members: int
) -> tuple[object, float, list[int]]:
    """A model trained once and kept in ``path`` (a rerun loads it); returns it, the
    training seconds and epochs per member of its first ``n_members`` seeds."""
    if not path.exists():
        est = make()
        est.fit(train, valid)
        est.save(path, overwrite=True)
    else:
        print(f"  (loaded {path.name})", flush=True)
    est = load(path)
    seed0 = int(est.random_state)
    members = [
        m
        for m in json.loads((path / "history.json").read_text())["members"]
        if int(m.get("seed", seed0)) - seed0 < n_members
    ]
    seconds = sum(float(m["seconds"]) for m in members)
    return est, seconds, [len(m["valid_loss"]) for m in members]


def ensemble_mean(est, test, members: int) -> np.ndarray:
    """The mean of the members trained with seeds 0 .. members-1 (a cINN: its
    posterior mean): a 5-member default model gives the 2-member one exactly."""
    if not hasattr(est, "member_seeds_"):
        return est.predict(test).mean
    seeds = np.array(est.member_seeds_) - int(est.random_state)
    pick = np.flatnonzero(seeds < members)
    if len(pick) < members:
        raise SystemExit(
            f"the model has {len(pick)} of the {members} members asked for"
        )
    return est.predict_members(test)[pick].mean(axis=0)


def final(kind: str, best: Path, args, cache: Path) -> None:
    train, valid, test = final_sets(cache, *args.n_final)
    good = test.meta["snr"] >= 0
    members = args.members if kind == "cnn" else 1
    default_dir = args.default_model.get(kind) or (
        cache / f"tune-final-{kind}-default-{train.n_spectra}-m{members}"
    )
    default = build_estimator(kind, labels=list(LABELS), show_progress=False)
    base = default.run_config()
    tuned = read_run_config(best)
    if kind == "cnn":  # the CNN benchmark's ensemble size, for both
        base["config"] |= {"n_members": members, "n_keep": members}
        tuned["config"] |= {"n_members": members, "n_keep": members}
    # searched with --max-epochs per trial; trained here as long as the preset
    tuned["config"]["train"]["max_epochs"] = default.config.train.max_epochs
    runs = {
        "default preset": (default_dir, base),
        "tuned (best.toml)": (
            cache
            / f"tune-final-{kind}-{best.parent.name}-{train.n_spectra}-m{members}",
            tuned,
        ),
    }
    if args.tuned_only:
        del runs["default preset"]
    stds: dict[str, list[float]] = {}
    for name, (path, run) in runs.items():
        print(f"\n{kind} {name}: {path.name}", flush=True)
        est, seconds, epochs = trained(
            path,
            lambda run=run: build_estimator(run=run, show_progress=False),
            train,
            valid,
            members,
        )
        saved = {
            k: v
            for k, v in est.run_config()["config"].items()
            if k not in ("n_members", "n_keep")
        }
        wanted = {
            k: v for k, v in run["config"].items() if k not in ("n_members", "n_keep")
        }
        if saved != wanted:
            raise SystemExit(f"{path} was trained with another configuration")
        mean = ensemble_mean(est, test, members)
        print(
            f"  {members} member(s); training {seconds / 60:.1f} min for "
            f"{len(epochs)} member(s), epochs {epochs}"
        )
        print(f"  {'label':6s} {'std':>9s} {'std/CRLB':>9s}")
        stds[name] = []
        for k, label in enumerate(LABELS):
            m = label_metrics(
                label,
                mean[good, k],
                test.labels[label][good],
                crlb=test.labels_crlb[label][good],
            )
            print(f"  {label:6s} {m.std:9.4g} {m.sigma_over_crlb:9.2f}")
            stds[name].append(m.std)
    if args.tuned_only:
        return
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
    ap.add_argument("--max-epochs", type=int, default=8, help="per trial")
    ap.add_argument(
        "--pruner", choices=["median", "hyperband", "none"], default="hyperband"
    )
    ap.add_argument(
        "--trial-timeout",
        type=float,
        default=None,
        help="seconds: prune a trial that trains longer",
    )
    ap.add_argument("--members", type=int, default=2, help="cnn final ensembles")
    ap.add_argument("--search-only", action="store_true")
    ap.add_argument(
        "--final-only",
        action="store_true",
        help="train the finals from the studies as they stand (no more trials)",
    )
    ap.add_argument(
        "--default-model",
        nargs="+",
        default=[],
        metavar="KIND=DIR",
        help="a saved default-preset model trained on the final sets (e.g. "
        "cnn=.cache/emu-model-cnn-8000-None) instead of training it again",
    )
    ap.add_argument(
        "--tuned-only",
        action="store_true",
        help="train and score only the tuned configuration (compare it with a "
        "default preset's figures from an earlier run)",
    )
    ap.add_argument(
        "--space",
        nargs="+",
        default=[],
        metavar="KIND=FILE",
        help="a search-space file for one model (e.g. cinn=cinn_space_cpu.toml); "
        "its study gets a folder of its own",
    )
    args = ap.parse_args()
    args.default_model, args.space = (
        dict((k, Path(v)) for k, v in (x.split("=", 1) for x in pairs))
        for pairs in (args.default_model, args.space)
    )
    args.cache.mkdir(parents=True, exist_ok=True)
    print_peak()
    for kind in args.models:
        if args.final_only:
            best = study_dir(kind, args, args.cache) / "best.toml"
        else:
            best = search(kind, args, args.cache)
        if not args.search_only:
            final(kind, best, args, args.cache)


if __name__ == "__main__":
    main()
