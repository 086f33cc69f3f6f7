"""CNN deep-ensemble benchmark on the Galactic synthetic survey (HR10+HR21, 8669 px).

Trains the paper preset (Ambrosch 2023) and other presets, and prints per label the
test-set std of the residuals, std / CRLB and the z-score std of the ensemble
uncertainty; per member the training wall time and epochs; and the inference
throughput per member (batch size tuned) with the fraction of this machine's float32
matmul peak it reaches (measured in the same run).

    python benchmarks/cnn_benchmark.py                       # the issue's sizes
    python benchmarks/cnn_benchmark.py --n-train 2000 --n-valid 500 --n-test 500 \
        --members 1 --max-epochs 20                          # a quick look

The survey is cached in --cache (default benchmarks/.cache) so presets can be
compared on the same spectra.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from starlabel.diagnostics.metrics import label_metrics
from starlabel.models.cnn import PRESETS, DeepEnsembleRegressor
from starlabel.nn import BandedConvRegressor, ConvRegressor
from starlabel.spectra import read_dataset
from starlabel.synth.population import sample_population
from starlabel.synth.survey import synthesize, write_survey

LABELS = ("teff", "logg", "fe_h", "mg_fe", "al_fe")


def matmul_peak(seconds: float = 2.0) -> float:
    """float32 GFLOP/s of a 2048^2 matrix product on this machine."""
    a, b = torch.rand(2048, 2048), torch.rand(2048, 2048)
    a @ b
    t0, k = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        a @ b
        k += 1
    return 2 * 2048**3 * k / (time.perf_counter() - t0) / 1e9


def flops_per_spectrum(net: ConvRegressor, n_pixels: int) -> float:
    """Multiply-adds x 2 of the convolutions and dense layers for one spectrum."""
    total, length = 0.0, n_pixels
    for layer in net.features:
        if isinstance(layer, torch.nn.Conv1d):
            length = length - layer.kernel_size[0] + 1
            total += (
                2
                * length
                * layer.out_channels
                * layer.in_channels
                * layer.kernel_size[0]
            )
        elif isinstance(layer, torch.nn.MaxPool1d):
            length //= layer.kernel_size
    for layer in net.head:
        if isinstance(layer, torch.nn.Linear):
            total += 2 * layer.in_features * layer.out_features
    return total


def throughput(module, n_pixels: int, seconds: float = 3.0) -> tuple[float, int]:
    """Best spectra/s of one member's forward over batch sizes."""
    best = (0.0, 0)
    for batch in (16, 64, 256, 1024):
        x = torch.rand(batch, n_pixels)
        with torch.inference_mode():
            module(x)
            t0, n = time.perf_counter(), 0
            while time.perf_counter() - t0 < seconds:
                module(x)
                n += batch
            rate = n / (time.perf_counter() - t0)
        best = max(best, (rate, batch))
    return best


def survey(
    cache: Path, n: int, seed: int, crlb: bool, snr: tuple[float, float] = (10.0, 150.0)
) -> Path:
    tag = "" if snr == (10.0, 150.0) else f"-snr{snr[0]:g}-{snr[1]:g}"
    path = cache / f"galactic-{n}-seed{seed}{tag}{'-crlb' if crlb else ''}.h5"
    if not path.exists():
        t0 = time.perf_counter()
        pop = sample_population(n, seed=seed, snr=snr)
        ids = np.array([f"s{seed}-{i:06d}" for i in range(n)])
        write_survey(
            path,
            synthesize(
                pop, setup="giraffe-hr10-hr21", with_crlb=crlb, seed=seed, ids=ids
            ),
        )
        print(f"generated {path.name} in {time.perf_counter() - t0:.0f} s")
    return path


def print_peak() -> float:
    """Measure and print the float32 matmul peak (GFLOP/s)."""
    peak = matmul_peak()
    print(
        f"float32 matmul peak on this machine: {peak:.0f} GFLOP/s; torch threads {torch.get_num_threads()}"
    )
    return peak


def surveys(cache: Path, n_train: int, n_valid: int, n_test: int):
    """Train, validation and test sets (seeds 11, 12, 13; the test set with CRLBs)."""
    return (
        read_dataset(survey(cache, n_train, 11, crlb=False)),
        read_dataset(survey(cache, n_valid, 12, crlb=False)),
        read_dataset(survey(cache, n_test, 13, crlb=True)),
    )


def speed_only(presets: list[str], n_pixels: int = 8669) -> None:
    """Inference throughput per member of each preset's network, nothing else."""
    peak = print_peak()
    for name in presets:
        c = PRESETS[name].cnn
        net = ConvRegressor(
            n_pixels,
            len(LABELS),
            channels=c.channels,
            kernel_size=c.kernel_size,
            pool=c.pool,
            dense=c.dense,
            dropout=c.dropout,
            slope=c.slope,
        ).eval()
        flops = flops_per_spectrum(net, n_pixels)
        plain, pb = throughput(
            lambda x, net=net: net.head(net.features(x.unsqueeze(1))), n_pixels
        )
        rate, b = throughput(BandedConvRegressor(net), n_pixels)
        print(
            f"{name}: {flops / 1e6:.1f} MFLOP per spectrum; plain torch layers {plain:.0f} spectra/s "
            f"(batch {pb}, {100 * plain * flops / 1e9 / peak:.0f} % of peak); starlabel banded {rate:.0f} "
            f"spectra/s (batch {b}, {100 * rate * flops / 1e9 / peak:.0f} % of peak); "
            f"ceiling {peak * 1e9 / flops:.0f} spectra/s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-train", type=int, default=8000)
    parser.add_argument("--n-valid", type=int, default=2000)
    parser.add_argument("--n-test", type=int, default=2000)
    parser.add_argument("--presets", nargs="+", default=["ambrosch2023-adam", "fast"])
    parser.add_argument(
        "--members",
        type=int,
        default=2,
        help="members per ensemble (paper: 10, keep 8)",
    )
    parser.add_argument("--max-epochs", type=int, default=None)
    parser.add_argument("--cache", type=Path, default=Path(__file__).parent / ".cache")
    parser.add_argument(
        "--throughput-only",
        action="store_true",
        help="only the inference speed of each preset's network (untrained weights)",
    )
    args = parser.parse_args()
    if args.throughput_only:
        return speed_only(args.presets)
    args.cache.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    peak = print_peak()
    train, valid, test = surveys(args.cache, args.n_train, args.n_valid, args.n_test)
    good = test.meta["snr"] >= 0
    rows = []
    for name in args.presets:
        cfg = PRESETS[name]
        cfg = replace(cfg, n_members=args.members, n_keep=args.members)
        if args.max_epochs is not None:
            cfg = replace(cfg, train=replace(cfg.train, max_epochs=args.max_epochs))
        t0 = time.perf_counter()
        est = DeepEnsembleRegressor(
            cfg, labels=list(LABELS), random_state=0, show_progress=False
        ).fit(train, valid)
        wall = time.perf_counter() - t0
        pred = est.predict(test)
        net = est.members_[0].net
        flops = flops_per_spectrum(net, test.n_pixels)
        plain, plain_batch = throughput(
            lambda x, net=net: net.head(net.features(x.unsqueeze(1))), test.n_pixels
        )
        rate, batch = throughput(BandedConvRegressor(net.eval()), test.n_pixels)
        epochs = [len(h["valid_loss"]) for h in est.history_]
        stops = [h["stopped"] for h in est.history_]
        print(
            f"\npreset {name}: {sum(p.numel() for p in net.parameters()):,} parameters, "
            f"{flops / 1e6:.1f} MFLOP per spectrum; {args.members} members trained in {wall / 60:.1f} min "
            f"({wall / args.members / 60:.1f} min per member; epochs {epochs}; {stops[0]})"
        )
        print(
            f"  inference per member, plain torch layers: {plain:.0f} spectra/s (batch {plain_batch}) = "
            f"{100 * plain * flops / 1e9 / peak:.0f} % of the measured peak"
        )
        print(
            f"  inference per member, starlabel (banded): {rate:.0f} spectra/s (batch {batch}) = {rate * flops / 1e9:.1f} GFLOP/s = "
            f"{100 * rate * flops / 1e9 / peak:.0f} % of the measured peak; ceiling {peak * 1e9 / flops:.0f} spectra/s"
        )
        print(f"  {'label':6s} {'std':>9s} {'std/CRLB':>9s} {'z std':>7s} {'bias':>9s}")
        for k, label in enumerate(LABELS):
            m = label_metrics(
                label,
                pred.mean[good, k],
                test.labels[label][good],
                sigma=pred.sigma_internal[good, k],
                crlb=test.labels_crlb[label][good],
            )
            print(
                f"  {label:6s} {m.std:9.4g} {m.sigma_over_crlb:9.2f} {m.z_std:7.2f} {m.bias:9.3g}"
            )
            rows.append((name, label, m.std))
    if len(args.presets) > 1:
        base = {lab: s for p, lab, s in rows if p == args.presets[0]}
        for p in args.presets[1:]:
            better = [lab for q, lab, s in rows if q == p and s < base[lab]]
            print(
                f"\n{p} beats {args.presets[0]} on {len(better)}/{len(LABELS)} labels: {', '.join(better)}"
            )


if __name__ == "__main__":
    main()
