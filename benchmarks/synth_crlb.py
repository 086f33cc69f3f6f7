"""Median Cramer-Rao bounds of the Galactic synthetic survey at fixed S/N.

For a galactic population on the joined HR10+HR21 grid, prints the median (and
16th/84th percentiles) of the CRLB of every label at S/N 30 and 100, all labels
estimated jointly, the time the bound takes per star, and how many spectra/s
``synthesize`` makes with and without bounds.

    python benchmarks/synth_crlb.py [--n 400] [--setup giraffe-hr10-hr21]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from cnn_benchmark import print_peak  # noqa: E402  (same folder)

from starlabel.synth.physics import SpectrumGenerator
from starlabel.synth.population import sample_population
from starlabel.synth.survey import CRLB_LABELS, crlb, noise_sigma, synthesize

UNITS = {"teff": "K", "vmic": "km/s"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--setup", default="giraffe-hr10-hr21")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print_peak()
    gen = SpectrumGenerator(args.setup)
    pop = sample_population(args.n, seed=args.seed)
    lab = pop.array()
    with torch.no_grad():
        flux = np.concatenate(
            [
                gen(torch.as_tensor(lab[i : i + 256], dtype=gen.dtype)).cpu().numpy()
                for i in range(0, args.n, 256)
            ]
        )
    print(
        f"{args.setup}, galactic population, {args.n} stars, all of {', '.join(CRLB_LABELS)} estimated jointly"
    )
    results = {}
    for snr in (30.0, 100.0):
        ivar = 1.0 / noise_sigma(flux, np.full(args.n, snr)) ** 2
        t0 = time.perf_counter()
        bounds = np.concatenate(
            [
                crlb(gen, lab[i : i + 128], ivar[i : i + 128])
                for i in range(0, args.n, 128)
            ]
        )
        dt = time.perf_counter() - t0
        results[snr] = bounds
        print(
            f"\nS/N {snr:.0f} per pixel ({dt / args.n * 1e3:.1f} ms per star for the bound)"
        )
        print(f"{'label':8s} {'median':>9s} {'p16':>9s} {'p84':>9s}  unit")
        for k, name in enumerate(CRLB_LABELS):
            b = bounds[:, k]
            if not np.isfinite(b).any():
                print(
                    f"{name:8s} {'inf':>9s} {'':>9s} {'':>9s}  (no line of it in this setup)"
                )
                continue
            q16, q50, q84 = np.percentile(b, [16, 50, 84])
            print(
                f"{name:8s} {q50:9.4g} {q16:9.4g} {q84:9.4g}  {UNITS.get(name, 'dex')}"
            )
    finite = np.isfinite(results[30.0]) & np.isfinite(results[100.0])
    ratio = results[30.0][finite] / results[100.0][finite]
    print(
        f"\nCRLB(S/N 30) / CRLB(S/N 100) = {np.median(ratio):.4f} (expected 100/30 = {100 / 30:.4f})"
    )
    # what a user of `synth` meets: whole noisy spectra, with and without their
    # bounds (issue 29: >= 200 spectra/s with bounds on the 2 cores)
    for with_crlb in (False, True):
        t0 = time.perf_counter()
        n = sum(
            s.n_spectra
            for s in synthesize(pop, setup=args.setup, with_crlb=with_crlb, seed=5)
        )
        dt = time.perf_counter() - t0
        print(
            f"synthesize: {n} spectra {'with' if with_crlb else 'without'} bounds "
            f"in {dt:.1f} s = {n / dt:.0f} spectra/s"
        )


if __name__ == "__main__":
    main()
