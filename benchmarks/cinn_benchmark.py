"""cINN (OssicoNN method) benchmark on the Galactic synthetic survey (HR10+HR21, 8669 px).

Trains a conditional invertible network on the same cached survey as
``cnn_benchmark.py`` and prints per label, in Fast and Precision mode: test-set std of
the residuals, std / CRLB, z-score std of the total uncertainty and 68 % / 95 %
coverage (all stars and S/N >= 20); the posterior coverage at 68 % from draws; and the
throughput: stars/s in Fast mode and spectrum-latent pairs/s in Precision mode, with
the fraction of this machine's float32 matmul peak (measured in the same run).

    python benchmarks/cinn_benchmark.py                        # the issue's sizes
    python benchmarks/cinn_benchmark.py --n-train 2000 --n-valid 500 --n-test 300 \
        --max-epochs 10 --n-external 10 --n-internal 100       # a quick look
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from cnn_benchmark import LABELS, print_peak, surveys  # noqa: E402  (same folder)

from starlabel.diagnostics.calibration import coverage_from_samples
from starlabel.diagnostics.metrics import label_metrics
from starlabel.models.cinn import CINN_PRESETS, ConditionalINNRegressor
from starlabel.spectra.preprocess import dense_flux


def inn_flops_per_pair(est: ConditionalINNRegressor) -> float:
    """Multiply-adds x 2 of the invertible part per latent draw (condition excluded)."""
    total = 0.0
    for coupling in est.module_.inn.couplings:
        for sub in (coupling.sub1, coupling.sub2):
            for layer in (sub.inp, *sub.hidden, sub.out):
                total += 2 * layer.in_features * layer.out_features
    return total


def pairs_throughput(
    est: ConditionalINNRegressor, flux: np.ndarray, n_int: int
) -> float:
    """Spectrum-latent pairs per second of the sampling step alone (conditions given)."""
    m = est.module_
    x = torch.as_tensor(flux[:64])
    gen = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        proj = m.inn.project([c.unsqueeze(1) for c in m.cond(x)])
        z = torch.randn(64, n_int, len(est.label_names_), generator=gen)
        m.inn.inverse(z, proj)
        t0, n = time.perf_counter(), 0
        while time.perf_counter() - t0 < 5:
            m.inn.inverse(z, proj)
            n += z.shape[0] * z.shape[1]
    return n / (time.perf_counter() - t0)


def report(name: str, pred, test, good: np.ndarray) -> dict[str, float]:
    print(f"\n{name}")
    print(
        f"  {'label':6s} {'std':>9s} {'std/CRLB':>9s} {'z std':>7s} {'cov68':>6s} {'cov95':>6s}"
        f" | S/N>=20: {'z std':>6s} {'cov68':>6s} {'cov95':>6s}"
    )
    stds = {}
    hi = good & (test.meta["snr"] >= 20)
    total = pred.sigma_total
    for k, label in enumerate(LABELS):
        args = dict(
            crlb=test.labels_crlb[label][good] if label in test.labels_crlb else None
        )
        m = label_metrics(
            label,
            pred.mean[good, k],
            test.labels[label][good],
            sigma=total[good, k],
            **args,
        )
        h = label_metrics(
            label, pred.mean[hi, k], test.labels[label][hi], sigma=total[hi, k]
        )
        print(
            f"  {label:6s} {m.std:9.4g} {m.sigma_over_crlb:9.2f} {m.z_std:7.2f} "
            f"{100 * m.coverage_68:5.1f}% {100 * m.coverage_95:5.1f}% | "
            f"{h.z_std:13.2f} {100 * h.coverage_68:5.1f}% {100 * h.coverage_95:5.1f}%"
        )
        stds[label] = m.std
    return stds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-train", type=int, default=8000)
    parser.add_argument("--n-valid", type=int, default=2000)
    parser.add_argument("--n-test", type=int, default=2000)
    parser.add_argument("--preset", default="candebat2024")
    parser.add_argument(
        "--members", type=int, default=1, help="seeds trained (paper: 5)"
    )
    parser.add_argument("--max-epochs", type=int, default=None)
    parser.add_argument("--n-external", type=int, default=20)
    parser.add_argument("--n-internal", type=int, default=250)
    parser.add_argument("--cache", type=Path, default=Path(__file__).parent / ".cache")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    peak = print_peak()
    train, valid, test = surveys(args.cache, args.n_train, args.n_valid, args.n_test)
    cfg = replace(CINN_PRESETS[args.preset], n_members=args.members)
    if args.max_epochs is not None:  # the step of the schedule keeps its place (50/60)
        steps = tuple(
            max(1, round(e * args.max_epochs / cfg.train.max_epochs))
            for e in cfg.train.lr_step_epochs
        )
        cfg = replace(
            cfg,
            train=replace(cfg.train, max_epochs=args.max_epochs, lr_step_epochs=steps),
        )
    t0 = time.perf_counter()
    est = ConditionalINNRegressor(cfg, labels=list(LABELS), random_state=0).fit(
        train, valid
    )
    wall = time.perf_counter() - t0
    n_params = sum(p.numel() for p in est.module_.parameters())
    epochs = [len(h["valid_loss"]) for h in est.history_]
    print(
        f"\npreset {args.preset}: {n_params:,} parameters; {args.members} model(s) trained in "
        f"{wall / 60:.1f} min (epochs {epochs}; best validation NLL/label {est.member_losses_[0]:.3f})"
    )
    good = np.ones(test.n_spectra, dtype=bool)

    t0 = time.perf_counter()
    fast = est.predict(test, est.predict_options(mode="fast"))
    t_fast = time.perf_counter() - t0
    t0 = time.perf_counter()
    est.predict(test, est.predict_options(mode="fast", n_internal=1))
    t_one = time.perf_counter() - t0
    t0 = time.perf_counter()
    prec = est.predict(
        test,
        est.predict_options(
            mode="precision", n_external=args.n_external, n_internal=args.n_internal
        ),
    )
    t_prec = time.perf_counter() - t0
    pairs = test.n_spectra * args.n_external * args.n_internal

    report("Fast mode (32 draws: median, (p84-p16)/2)", fast, test, good)
    report(
        f"Precision mode ({args.n_external} copies x {args.n_internal} draws)",
        prec,
        test,
        good,
    )

    draws = est.sample(test, n_samples=100, seed=1)
    truth = np.stack([test.labels[n] for n in LABELS], axis=1)
    cov = coverage_from_samples(draws, truth, np.array([0.68, 0.95]))
    print(
        "\nposterior draws (100 per star, spectrum as observed): coverage 68 % / 95 %: "
        + ", ".join(
            f"{n} {100 * a:.1f}/{100 * b:.1f}"
            for n, a, b in zip(LABELS, *cov, strict=True)
        )
    )

    flops = inn_flops_per_pair(est)
    rate = pairs_throughput(est, dense_flux(test)[0], args.n_internal)
    print("\nthroughput on this machine:")
    print(
        f"  Fast mode, 32 draws: {test.n_spectra / t_fast:.0f} stars/s; 1 draw (paper's Fast): "
        f"{test.n_spectra / t_one:.0f} stars/s"
    )
    print(
        f"  Precision mode end to end: {pairs / t_prec:.0f} pairs/s ({t_prec:.0f} s for {test.n_spectra} stars)"
    )
    print(
        f"  invertible part alone: {rate:.0f} pairs/s = {rate * flops / 1e9:.1f} GFLOP/s "
        f"({flops / 1e6:.2f} MFLOP per pair) = {100 * rate * flops / 1e9 / peak:.0f} % of the measured "
        f"peak; ceiling {peak * 1e9 / flops:.0f} pairs/s"
    )


if __name__ == "__main__":
    main()
