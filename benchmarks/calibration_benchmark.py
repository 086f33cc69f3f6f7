"""Calibration and OOD benchmark (issue 13) on the Galactic synthetic survey
(HR10+HR21, 8669 px, S/N 10-150).

Every model is trained once on stars with [Fe/H] > -1 (train / validation from the
cached surveys of ``cnn_benchmark.py``, seeds 11 and 12), so that the same run
measures both:

* calibration on the test stars inside the training distribution ([Fe/H] > -1, seed
  13): z std and 68 % coverage of ``_err_raw`` (before) and ``_err`` (after the
  validation-set recalibration), overall and per S/N and Teff bin, per label; and the
  test residual std (the CNN with ``--loss beta_nll`` against MSE members);
* OOD on all test stars: positives = [Fe/H] < -1; AUROC of each signal and of the
  combined ``ood_score``, overall and at S/N >= 30, the flagged share of positives and
  the false-flag rate of in-distribution test stars at the threshold (score > 1).

    python benchmarks/calibration_benchmark.py                 # the issue's sizes
    python benchmarks/calibration_benchmark.py --n-train 1000 --n-valid 300 \
        --n-test 300 --max-epochs 5 --models cnn               # a quick look
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from cnn_benchmark import print_peak, surveys  # noqa: E402  (same folder)
from sklearn.metrics import roc_auc_score

from starlabel import load
from starlabel.diagnostics.metrics import SNR_BINS, TEFF_BINS, z_statistics
from starlabel.models import build_estimator

LABELS = ("teff", "logg", "fe_h", "mg_fe")
FEH_CUT = -1.0


def bins(
    snr: np.ndarray, teff: np.ndarray, teff_pred: np.ndarray
) -> list[tuple[str, np.ndarray]]:
    """Overall, S/N bins, bins of the reference Teff and of the predicted Teff."""
    out = [("all", np.ones(snr.size, bool))]
    out += [(f"S/N {a:g}-{b:g}", (snr >= a) & (snr < b)) for a, b in SNR_BINS]
    out += [(f"Teff {a:g}-{b:g}", (teff >= a) & (teff < b)) for a, b in TEFF_BINS]
    out += [
        (f"pred. Teff {a:g}-{b:g}", (teff_pred >= a) & (teff_pred < b))
        for a, b in TEFF_BINS
    ]
    return out


def z_stats(res: np.ndarray, sigma: np.ndarray) -> tuple[float, float]:
    return z_statistics(res, sigma)[1:3]


def calibration_table(name: str, pred, test) -> dict[str, float]:
    snr, teff = test.meta["snr"].astype(float), test.labels["teff"]
    print(
        f"\n{name}: z std / cov68 before (_err_raw) -> after (_err); bins with >= 100 "
        "stars (Teff: of the reference; pred. Teff: of the catalogue)"
    )
    teff_pred = pred.mean[:, list(pred.label_names).index("teff")]
    groups = bins(snr, teff, teff_pred)
    print(f"  {'label':6s} " + " ".join(f"{g:>24s}" for g, _ in groups))
    stds = {}
    for k, label in enumerate(pred.label_names):
        if label not in LABELS:
            continue
        res = pred.mean[:, k] - test.labels[label]
        stds[label] = float(np.nanstd(res, ddof=1))
        cells = []
        for _, sel in groups:
            if sel.sum() < 100:
                cells.append(f"{'(n=' + str(int(sel.sum())) + ')':>24s}")
                continue
            zr, cr = z_stats(res[sel], pred.sigma_raw[sel, k])
            za, ca = z_stats(res[sel], pred.sigma_total[sel, k])
            cells.append(f"{zr:6.3g}/{cr:4.2f} -> {za:4.2f}/{ca:4.2f}")
        print(f"  {label:6s} " + " ".join(cells))
    print("  residual std: " + ", ".join(f"{k} {v:.4g}" for k, v in stds.items()))
    return stds


def ood_table(name: str, pred, test) -> None:
    snr = test.meta["snr"].astype(float)
    positive = test.labels["fe_h"] < FEH_CUT
    hi = snr >= 30
    print(
        f"\n{name}: OOD, positives [Fe/H] < {FEH_CUT} ({int(positive.sum())} of "
        f"{positive.size}; {int((positive & hi).sum())} at S/N >= 30)"
    )
    signals = dict(pred.ood_signals) | {"combined ood_score": pred.ood_score}
    for sig, values in signals.items():
        ok = np.isfinite(values)
        auc = roc_auc_score(positive[ok], values[ok])
        auc_hi = roc_auc_score(positive[ok & hi], values[ok & hi])
        print(f"  {sig:22s} AUROC {auc:.3f}; at S/N >= 30 {auc_hi:.3f}")
    flagged = pred.ood_score > 1
    print(
        f"  at the threshold (score > 1): {flagged[positive].mean():.1%} of positives "
        f"flagged ({flagged[positive & hi].mean():.1%} at S/N >= 30); false flags on "
        f"in-distribution test stars {flagged[~positive].mean():.1%}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=Path("benchmarks/.cache"))
    ap.add_argument("--n-train", type=int, default=8000)
    ap.add_argument("--n-valid", type=int, default=2000)
    ap.add_argument("--n-test", type=int, default=2000)
    ap.add_argument("--max-epochs", type=int, default=None)
    ap.add_argument(
        "--models", nargs="+", default=["cnn", "cnn-mse", "cinn", "gandalf"]
    )
    ap.add_argument(
        "--retrain", action="store_true", help="train again even if a model is cached"
    )
    ap.add_argument(
        "--recalibrate",
        action="store_true",
        help="refit the calibration and OOD score of cached models (no retraining)",
    )
    args = ap.parse_args()
    peak = print_peak()
    args.cache.mkdir(parents=True, exist_ok=True)
    # draw more than asked so that the [Fe/H] > -1 cut leaves the sizes
    train, valid, test = surveys(
        args.cache, int(args.n_train * 1.15), int(args.n_valid * 1.15), args.n_test
    )
    train = train[train.labels["fe_h"] > FEH_CUT][: args.n_train]
    valid = valid[valid.labels["fe_h"] > FEH_CUT][: args.n_valid]
    inside = test.labels["fe_h"] > FEH_CUT
    print(
        f"train {train.n_spectra}, valid {valid.n_spectra} ([Fe/H] > {FEH_CUT}); test "
        f"{test.n_spectra} ({int(inside.sum())} inside, {int((~inside).sum())} below)"
    )
    stds = {}
    for name in args.models:
        kind, settings = name, {}
        if name == "cnn":
            settings = {"loss": "beta_nll"}
        elif name == "cnn-mse":
            kind, settings = "cnn", {"loss": "mse"}
        if args.max_epochs:
            settings["max_epochs"] = args.max_epochs
        saved = args.cache / f"calib-model-{name}-{train.n_spectra}-{args.max_epochs}"
        t0 = time.perf_counter()
        if saved.exists() and not args.retrain:
            est = load(saved)  # trained by an earlier run: analyse again, no refit
            print(f"\n(loaded {saved}; --retrain trains again)")
            if args.recalibrate:  # this version's calibration and OOD fit
                est._fit_reliability(train, valid)
                print("(calibration and OOD score refitted on the validation stars)")
        else:
            est = build_estimator(
                kind, labels=list(LABELS), show_progress=False, **settings
            )
            est.fit(train, valid)
            est.save(saved, overwrite=True)
        fit_s = time.perf_counter() - t0
        options = est.predict_options(mode="precision") if kind == "cinn" else None
        t0 = time.perf_counter()
        pred = est.predict(test, options)
        print(
            f"\n=== {name} ({kind}, {settings or 'defaults'}): fit {fit_s:.0f} s, predict "
            f"{test.n_spectra} stars {time.perf_counter() - t0:.0f} s "
            f"(matmul peak {peak:.0f} GFLOP/s)"
        )
        for w in getattr(est, "fit_warnings_", []):
            print(f"  warning: {w}")
        sub = test[inside]
        p_in = type(pred)(
            pred.label_names,
            pred.mean[inside],
            pred.sigma_internal[inside],
            pred.sigma_external[inside],
            total=None if pred.total is None else pred.total[inside],
            calibrated=pred.calibrated[inside],
        )
        stds[name] = calibration_table(name, p_in, sub)
        ood_table(name, pred, test)
        if kind == "cinn":
            for total in ("paper", "pooled"):
                alt = est.predict(
                    test[inside], est.predict_options(mode="precision", total=total)
                )
                print(
                    f"\n  cINN precision total={total} (uncalibrated: the calibration is for posterior):"
                )
                for k, label in enumerate(alt.label_names):
                    if label in LABELS:
                        res = alt.mean[:, k] - sub.labels[label]
                        z, c = z_stats(res, alt.sigma_raw[:, k])
                        print(f"    {label:6s} z std {z:.3f} cov68 {c:.3f}")
    if "cnn" in stds and "cnn-mse" in stds:
        print("\nCNN residual std, beta-NLL / MSE members:")
        for label in LABELS:
            a, b = stds["cnn"][label], stds["cnn-mse"][label]
            print(f"  {label:6s} {a:.4g} / {b:.4g} = {a / b:.3f}")


if __name__ == "__main__":
    main()
