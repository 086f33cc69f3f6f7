"""How fast ``synth`` makes spectra with and without their Cramer-Rao bounds
(issue 29: >= 200 spectra/s with bounds on the 2 cores).

    python benchmarks/synth_crlb_benchmark.py --n 1000 --setup giraffe-hr10-hr21
"""

from __future__ import annotations

import argparse
import time

from cnn_benchmark import print_peak  # noqa: E402  (same folder)

from starlabel.synth.population import sample_population
from starlabel.synth.survey import synthesize


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--setup", default="giraffe-hr10-hr21")
    args = p.parse_args()
    print_peak()
    pop = sample_population(args.n, kind="galactic", seed=5, snr=(30.0, 150.0))
    warm = sample_population(64, kind="galactic", seed=6, snr=(30.0, 150.0))
    list(synthesize(warm, setup=args.setup, with_crlb=True))  # build the generator
    for with_crlb in (False, True):
        t0 = time.perf_counter()
        n = sum(
            s.n_spectra
            for s in synthesize(pop, setup=args.setup, with_crlb=with_crlb, seed=5)
        )
        dt = time.perf_counter() - t0
        print(
            f"{args.setup}: {n} spectra {'with' if with_crlb else 'without'} bounds "
            f"in {dt:.1f} s = {n / dt:.0f} spectra/s"
        )


if __name__ == "__main__":
    main()
