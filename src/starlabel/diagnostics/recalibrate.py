"""``starlabel calibrate``: refit a model's error calibration on stars with trusted
labels, or on repeat observations of the same stars, write it into the model
directory (the earlier one is kept in ``calibration_history``) and a report.

The report folder holds ``calibration.csv`` (per label: the fitted a, b, c and z std
/ 68 % coverage with the raw errors, the earlier calibration and the new one, on the
stars it was fitted on), ``reliability.png`` (nominal vs empirical coverage before
and after) and ``summary.txt``. The before/after figures are in-sample: they show
that the fit did what it should, not how it does on other stars (run ``evaluate``
on a held-out set for that).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Table

from .._atomic import atomic_path, check_output_dir
from .._staging import staged_dir
from .._typing import PathLike
from ..errors import StarlabelInputError
from ..models import load
from ..models.persist import is_model_dir, read_manifest
from ..models.recalibration import LabelCalibration
from ..models.reliability import fit_calibration_on, fit_calibration_on_pairs
from ..spectra.container import Spectra
from ..spectra.io.hdf5 import read_dataset
from .calibration import LEVELS, coverage_gaussian
from .metrics import z_statistics

__all__ = ["CalibrationResult", "calibrate_model_dir", "read_pairs"]

REPORT_FILES = ("calibration.csv", "reliability.png", "summary.txt")


@dataclass(frozen=True)
class CalibrationResult:
    """What :func:`calibrate_model_dir` did.

    Attributes:
        key: the prediction options the calibration belongs to.
        calibration: label -> the new calibration.
        rows: per label, the figures of ``calibration.csv``.
        files: the report files.
        n_stars: stars (or pairs) used.
    """

    key: str
    calibration: dict[str, LabelCalibration]
    rows: list[dict[str, Any]]
    files: tuple[Path, ...]
    n_stars: int


def read_pairs(path: PathLike, ids: np.ndarray) -> np.ndarray:
    """``(n_pairs, 2)`` rows of ``ids`` from a CSV table of repeat-observation pairs:
    its first two columns are the ids of two spectra of the same star (header line
    first, e.g. ``id1,id2``; lines starting with ``#`` are comments).

    Raises:
        StarlabelInputError: unreadable table, fewer than two columns, or an id that
            is not in the dataset (naming the line).
    """
    path = Path(path)
    try:
        table = Table.read(path, format="ascii.csv", comment="#")
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise StarlabelInputError(
            f"not a readable CSV table of id pairs ({exc})", path=path
        ) from exc
    if len(table.colnames) < 2:
        raise StarlabelInputError(
            "a pairs table needs two columns (ids of two spectra of one star)",
            path=path,
        )
    position = {str(s): i for i, s in enumerate(ids.tolist())}
    out = np.empty((len(table), 2), dtype=int)
    a, b = table.colnames[:2]
    for line, row in enumerate(table, start=2):
        for k, col in enumerate((a, b)):
            sid = str(row[col])
            if sid not in position:
                raise StarlabelInputError(
                    f"line {line}: id {sid!r} is not in the dataset", path=path
                )
            out[line - 2, k] = position[sid]
        if out[line - 2, 0] == out[line - 2, 1]:
            raise StarlabelInputError(
                f"line {line}: a pair of one spectrum with itself ({row[a]})",
                path=path,
            )
    if len(out) < 10:
        raise StarlabelInputError(
            f"{len(out)} pairs: a calibration needs at least 10", path=path
        )
    return out


def _z(res: np.ndarray, sigma: np.ndarray) -> tuple[float, float]:
    _, z, c68, _ = z_statistics(res, sigma)
    return z, c68


def calibrate_model_dir(
    model_dir: PathLike,
    reference: PathLike,
    out_dir: PathLike,
    *,
    pairs: PathLike | None = None,
    options: Any = None,
    overwrite: bool = False,
) -> CalibrationResult:
    """Refit the calibration of ``model_dir`` for ``options`` (default: the model's
    default prediction options) on ``reference`` and write the report to
    ``out_dir``.

    Args:
        model_dir: a model directory; its ``model.json`` gets the new calibration
            (the earlier one moves to ``calibration_history``).
        reference: dataset with trusted labels, or (with ``pairs``) the spectra of
            the repeat observations.
        out_dir: report folder: new, empty, or (``overwrite``) an earlier report
            of starlabel; it appears complete or not at all.
        pairs: CSV of id pairs (see :func:`read_pairs`): calibrate on prediction
            differences, which need no labels.
        options: the model's predict options.
        overwrite: replace an earlier report in ``out_dir``.
    """
    model_dir = Path(model_dir)
    if not is_model_dir(model_dir):
        raise StarlabelInputError("not a starlabel model directory", path=model_dir)
    out = check_output_dir(out_dir, overwrite=overwrite, command="calibrate")
    model = load(model_dir)
    options = options if options is not None else model.predict_options()
    key = model.calibration_key(options)
    ref = read_dataset(reference)
    model.check_grid(ref, source=str(reference))
    old = getattr(model, "calibration_", {}).get(key, {})
    pred = model.predict_raw(ref, options)
    snr = ref.snr()
    raw = pred.sigma_raw
    if pairs is not None:
        rows_ = read_pairs(pairs, ref.ids)
        new = fit_calibration_on_pairs(
            model, ref, rows_, options, source=f"pairs: {Path(pairs).name}"
        )
        n = len(rows_)
    else:
        new = fit_calibration_on(
            model, ref, options, source=Path(reference).name, prediction=pred
        )
        if not new:
            raise StarlabelInputError(
                "no label of the model has reference values for 10 or more stars",
                path=reference,
            )
        n = max(c.n for c in new.values())
    rows, before, after, names = [], [], [], []
    for k, name in enumerate(pred.label_names):
        if name not in new:
            continue
        res, s_raw, s_old, s_new = _sigmas(
            pred,
            ref,
            k,
            new[name],
            old.get(name),
            raw,
            snr,
            rows_ if pairs is not None else None,
        )
        row, cov_before, cov_after = _compare(name, new[name], res, s_raw, s_old, s_new)
        rows.append(row)
        before.append(cov_before)
        after.append(cov_after)
        names.append(name)
    with staged_dir(out, command="calibrate") as stage:
        _write_report(
            stage,
            key,
            rows,
            np.stack(before, 1),
            np.stack(after, 1),
            names,
            pairs is not None,
            reference,
        )
        _write_calibration(model_dir, key, new)  # the report is complete by then
    files = tuple(out / f for f in REPORT_FILES)
    return CalibrationResult(key, new, rows, files, n)


def _sigmas(
    pred: Any,
    ref: Spectra,
    k: int,
    c: LabelCalibration,
    old: LabelCalibration | None,
    raw: np.ndarray,
    snr: np.ndarray,
    pairs: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    """Label ``k``'s residuals (against the reference, or pair differences) and
    their sigma raw, with the old calibration (None: none) and with the new one."""
    name = pred.label_names[k]
    if pairs is not None:
        i, j = pairs[:, 0], pairs[:, 1]
        res = pred.mean[i, k] - pred.mean[j, k]
        ends = (raw[i, k], raw[j, k], snr[i], snr[j])
        s_old = _pair_sigma(old, *ends) if old is not None else None
        return res, np.hypot(raw[i, k], raw[j, k]), s_old, _pair_sigma(c, *ends)
    res = pred.mean[:, k] - ref.labels[name]
    by = (
        pred.mean[:, list(pred.label_names).index(c.by)]
        if c.by in pred.label_names
        else None
    )
    s_old = old.apply(raw[:, k], snr, by) if old is not None else None
    return res, raw[:, k], s_old, c.apply(raw[:, k], snr, by)


def _compare(
    name: str,
    c: LabelCalibration,
    res: np.ndarray,
    s_raw: np.ndarray,
    s_old: np.ndarray | None,
    s_new: np.ndarray,
) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """The report row of a label (z std and 68 % coverage raw, before, after) and
    its coverage curves before and after."""
    z_raw, c_raw = _z(res, s_raw)
    z_old, c_old = _z(res, s_old) if s_old is not None else (np.nan, np.nan)
    z_new, c_new = _z(res, s_new)
    row = {
        "label": name,
        "n": c.n,
        "a": c.a,
        "b": c.b,
        "c": c.c,
        "p": c.p,
        "z_std_raw": z_raw,
        "cov68_raw": c_raw,
        "z_std_before": z_old,
        "cov68_before": c_old,
        "z_std_after": z_new,
        "cov68_after": c_new,
    }
    zero = np.zeros_like(res)[:, None]
    s_before = s_old if s_old is not None else s_raw
    before = coverage_gaussian(res[:, None], s_before[:, None], zero)[:, 0]
    after = coverage_gaussian(res[:, None], s_new[:, None], zero)[:, 0]
    return row, before, after


def _pair_sigma(
    cal: LabelCalibration,
    raw1: np.ndarray,
    raw2: np.ndarray,
    snr1: np.ndarray,
    snr2: np.ndarray,
) -> np.ndarray:
    """Calibrated sigma of the difference of two independent predictions."""
    return np.hypot(cal.apply(raw1, snr1), cal.apply(raw2, snr2))


def _write_calibration(
    model_dir: Path, key: str, new: dict[str, LabelCalibration]
) -> None:
    """Replace the calibration of ``key`` in ``model.json`` (atomically), keeping
    the earlier one in ``calibration_history``."""
    read_manifest(model_dir)  # a readable model.json of our format
    full = json.loads((model_dir / "model.json").read_text(encoding="utf-8"))
    calibration = full.setdefault("calibration", {})
    if key in calibration:
        full.setdefault("calibration_history", []).append(
            {
                "key": key,
                "replaced": datetime.now(UTC).isoformat(timespec="seconds"),
                "labels": calibration[key],
            }
        )
    calibration[key] = {n: c.to_dict() for n, c in new.items()}
    with atomic_path(model_dir / "model.json") as tmp:
        tmp.write_text(json.dumps(full, indent=2), encoding="utf-8")


def _write_report(
    out: Path,
    key: str,
    rows: list[dict[str, Any]],
    before: np.ndarray,
    after: np.ndarray,
    names: list[str],
    pairs: bool,
    reference: PathLike,
) -> tuple[Path, ...]:
    from .plots.evaluation import plot_reliability

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    with atomic_path(out / "calibration.csv") as tmp:
        tmp.write_text(buf.getvalue(), encoding="utf-8")
    what = "differences of repeat-observation pairs" if pairs else "reference labels"
    fig, _ = plot_reliability(
        LEVELS,
        before,
        after,
        names,
        title=f"{Path(reference).name} ({what}): before (dashed), after (solid)",
    )
    with atomic_path(out / "reliability.png") as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    import matplotlib.pyplot as plt

    plt.close(fig)
    lines = [
        f"calibration of '{key}' refitted on {Path(reference).name} ({what}); "
        "sigma^2 = (a _err_raw)^2 + b^2 + (c (100/snr)^p)^2",
        "in-sample figures (the stars it was fitted on):",
    ]
    for r in rows:
        lines.append(
            f"  {r['label']}: n {r['n']}, a {r['a']:.3g}, b {r['b']:.3g}, c {r['c']:.3g}, p {r['p']:.2f}; "
            f"z std raw {r['z_std_raw']:.3g}, before {r['z_std_before']:.3g}, "
            f"after {r['z_std_after']:.3g}; cov68 after {r['cov68_after']:.2f}"
        )
    if pairs:
        lines.append(
            "repeat pairs measure the random part of the errors only: systematic "
            "errors common to both observations cancel in a difference"
        )
    with atomic_path(out / "summary.txt") as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return tuple(out / f for f in REPORT_FILES)
