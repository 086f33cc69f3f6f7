"""Noise-free HR10+HR21 spectra per second from the synthetic-survey generator.

Prints the throughput on this machine for a galactic population (target: >= 200
spectra/s on 2 CPU cores), for several batch sizes.

    python benchmarks/synth_speed.py [--setup giraffe-hr10-hr21] [--n 2048]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from starlabel.synth.physics import LABELS, SpectrumGenerator
from starlabel.synth.population import sample_population


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--setup", default="giraffe-hr10-hr21")
    parser.add_argument("--n", type=int, default=2048)
    parser.add_argument("--device", default=None)
    args = parser.parse_args()
    gen = SpectrumGenerator(args.setup, device=args.device)
    pop = sample_population(args.n, seed=1)
    labels = torch.as_tensor(
        np.column_stack([pop.labels[k] for k in LABELS]), dtype=torch.float32
    )
    print(
        f"setup {args.setup}: {gen.setup.grid.n_pixels} px, {len(gen.lines)} lines, "
        f"internal grid {gen.n_fine} px at {gen.velocity_step} km/s; torch threads {torch.get_num_threads()}; "
        f"device {gen.bin_w.device}"
    )
    for batch in (64, 256, 1024):
        with torch.no_grad():
            gen(labels[:batch])  # warm-up
            t0 = time.perf_counter()
            for start in range(0, args.n, batch):
                out = gen(labels[start : start + batch])
            if out.is_cuda:
                torch.cuda.synchronize()
            dt = time.perf_counter() - t0
        print(
            f"batch {batch:5d}: {args.n / dt:8.0f} spectra/s ({args.n} spectra in {dt:.2f} s)"
        )


if __name__ == "__main__":
    main()
