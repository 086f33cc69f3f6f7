"""Do the default presets learn in a short run? (issue: defaults that learn)

Trains each model kind with its default preset for at most 10 epochs on a
1000-star synthetic Galactic survey (HR10+HR21, S/N 10-150; the model's own
validation share held out) and prints, on 400 independent test stars, the residual
std divided by the label scatter (target < 0.5 for teff, logg, [Fe/H]), with the
fit time and this machine's matmul peak measured in the same run. The faithful
paper presets are run the same way for comparison with ``--paper``.

Run from benchmarks/: ``python defaults_benchmark.py [--paper]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from cnn_benchmark import print_peak

from starlabel.models import build_estimator
from starlabel.spectra import Spectra
from starlabel.synth.population import sample_population
from starlabel.synth.survey import synthesize

LABELS = ["teff", "logg", "fe_h", "mg_fe"]


def survey(n: int, seed: int) -> Spectra:
    pop = sample_population(n, seed=seed, snr=(10.0, 150.0))
    return Spectra.concatenate(list(synthesize(pop, with_crlb=False, seed=seed)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paper", action="store_true", help="also the paper presets")
    parser.add_argument(
        "--ensemble", type=int, default=2, help="cnn members (default preset: 5)"
    )
    args = parser.parse_args()
    print_peak()
    train, test = survey(1000, 1), survey(400, 2)
    runs = [("cnn", "default"), ("cinn", "default")]
    if args.paper:
        runs += [("cnn", "ambrosch2023"), ("cinn", "candebat2024")]
    print(
        f"{'model':6} {'preset':14} {'fit [s]':>8} "
        + " ".join(f"{n:>7}" for n in LABELS)
    )
    for kind, preset in runs:
        flags = (
            {"ensemble": args.ensemble, "keep": args.ensemble}
            if kind == "cnn"
            else {"ensemble": 1}
        )
        est = build_estimator(
            kind, preset=preset, labels=LABELS, max_epochs=10, **flags
        )
        start = time.perf_counter()
        est.fit(train)
        seconds = time.perf_counter() - start
        pred = est.predict(test).mean
        ratios = [
            np.std(pred[:, k] - test.labels[n]) / np.std(test.labels[n])
            for k, n in enumerate(LABELS)
        ]
        print(
            f"{kind:6} {preset:14} {seconds:8.0f} "
            + " ".join(f"{r:7.3f}" for r in ratios),
            flush=True,
        )
    print(
        "residual std / label std on the test stars (< 0.5: learned; ~1: predicts the mean)"
    )


if __name__ == "__main__":
    main()
