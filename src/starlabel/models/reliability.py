"""What every model fits after training so that its numbers can be trusted: the
per-label recalibration of its errors (``models.recalibration``) and its OOD score
(``models.ood``), both from the validation stars; how they are applied in
``predict``, saved in the model directory and refitted by ``starlabel calibrate``.

``model.json`` keys:

* ``calibration``: ``{options key: {label: LabelCalibration}}`` (the key names the
  prediction options the map belongs to: ``default`` for most models, ``fast`` /
  ``precision-<total>`` for the cINN);
* ``calibration_history``: earlier calibrations replaced by ``starlabel calibrate``
  (nothing is lost);
* ``ood``: the OOD score's scales and threshold; its reference features are in
  ``ood.safetensors``;
* ``line_sensitivity``: the quadratic flux model of each abundance's own windows
  (``models.line_sensitivity``; its arrays in ``line_sensitivity.safetensors``);
* ``spectrum_check``: the quadratic flux model of every pixel behind the
  ``chi2_labels`` column and OOD signal (``models.spectrum_check``; its arrays in
  ``spectrum_check.safetensors``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..spectra.container import Spectra
from ..spectra.flags import Flag
from .base import LabelPrediction
from .censor import own_lines_unseen
from .line_sensitivity import LineSensitivity, fit_line_sensitivity
from .ood import OODModel, fit_ood
from .persist import load_tensors
from .recalibration import (
    LabelCalibration,
    below_snr_range,
    calibrate_sigma,
    fit_calibration,
    fit_calibration_pairs,
)
from .snr_coverage import calibration_set, coverage_snr_min, subset
from .spectrum_check import SpectrumCheck, fit_spectrum_check

__all__ = [
    "apply_reliability",
    "calibration_note",
    "fit_calibration_on",
    "fit_calibration_on_pairs",
    "fit_reliability",
    "reliability_parts",
    "restore_reliability",
]

OOD_FILE = "ood.safetensors"
SENSITIVITY_FILE = "line_sensitivity.safetensors"
CHECK_FILE = "spectrum_check.safetensors"
#: the quadratic flux models a model keeps: ``model.json`` key (and attribute
#: ``<key>_``) -> its tensor file and class
FLUX_MODELS = {
    "line_sensitivity": (SENSITIVITY_FILE, LineSensitivity),
    "spectrum_check": (CHECK_FILE, SpectrumCheck),
}
CHECK_NOTE = (
    "reduced chi^2 of the spectrum against a quadratic model of the training "
    "flux at the predicted labels (noise + the model's own scatter); ~1 for a "
    "training-like star, >> 1: unlike every training spectrum, or wrong labels"
)
#: The calibration is fitted separately in bins of the model's predicted Teff [K]
#: (``evaluate``'s Teff bins); a bin needs ``MIN_STRATUM`` fit stars.
STRATIFY_BY = "teff"
STRATA_EDGES = (4500.0, 5500.0)
MIN_STRATUM = 100


def calibration_note(cal: Mapping[str, LabelCalibration]) -> str:
    """One line for the catalogue's ``_err`` description."""
    sources = sorted({c.source for c in cal.values()})
    return (
        "sigma^2 = (a _err_raw)^2 + b^2 + (c (100/snr)^p)^2 fitted on "
        + ", ".join(sources)
        + (
            f" separately in bins of the predicted {STRATIFY_BY} (edges "
            + ", ".join(f"{e:g}" for e in STRATA_EDGES)
            + ")"
            if any(c.parts for c in cal.values())
            else ""
        )
        + "; a, b, c, p per label in model.json"
    )


def fit_calibration_on(
    model: Any,
    reference: Spectra,
    options: Any,
    *,
    source: str,
    prediction: LabelPrediction | None = None,
) -> dict[str, LabelCalibration]:
    """Per-label calibration of ``model`` with ``options`` on stars with reference
    labels (labels the reference lacks, or has for fewer than 10 stars, are left
    out)."""
    pred = prediction if prediction is not None else model._predict(reference, options)
    snr = reference.snr()
    out = {}
    for k, name in enumerate(pred.label_names):
        if name not in reference.labels:
            continue
        truth = reference.labels[name]
        if (np.isfinite(truth) & np.isfinite(pred.mean[:, k])).sum() < 10:
            continue
        out[name] = fit_calibration(
            pred.mean[:, k], pred.sigma_raw[:, k], truth, snr, source=source
        )
        if STRATIFY_BY in pred.label_names:
            by = pred.mean[:, pred.label_names.index(STRATIFY_BY)]

            def part(sel: np.ndarray, k: int = k, truth: np.ndarray = truth):
                ok = sel & np.isfinite(truth) & np.isfinite(pred.mean[:, k])
                if ok.sum() < MIN_STRATUM:
                    return None
                return fit_calibration(
                    pred.mean[ok, k],
                    pred.sigma_raw[ok, k],
                    truth[ok],
                    None if snr is None else snr[ok],
                    source=source,
                )

            out[name] = out[name].stratified(STRATIFY_BY, STRATA_EDGES, part, by)
    return out


def fit_calibration_on_pairs(
    model: Any,
    spectra: Spectra,
    pairs: Sequence[tuple[int, int]],
    options: Any,
    *,
    source: str,
) -> dict[str, LabelCalibration]:
    """Per-label calibration from repeat observations: ``pairs`` are row indices
    into ``spectra`` of two spectra of the same star."""
    rows = np.asarray(pairs, dtype=int).reshape(-1, 2)
    pred = model._predict(spectra, options)
    snr = spectra.snr()
    sigma = pred.sigma_raw
    out = {}
    for k, name in enumerate(pred.label_names):
        i, j = rows[:, 0], rows[:, 1]
        out[name] = fit_calibration_pairs(
            (pred.mean[i, k], sigma[i, k], snr[i]),
            (pred.mean[j, k], sigma[j, k], snr[j]),
            source=source,
        )
    return out


def fit_reliability(
    model: Any, train: Spectra, valid: Spectra, *, snr_coverage: bool = True
) -> None:
    """Set ``model.calibration_`` and ``model.ood_`` from the validation stars and
    their degraded copies (``models.snr_coverage``; a warning instead when there
    are too few) and ``model.line_sensitivity_`` from the training stars.
    ``snr_coverage=False``: the validation stars as they are and an OOD score
    blind to S/N (the calibration of earlier versions, for comparisons)."""
    model.calibration_ = {}
    model.calibration_history_ = []
    model.ood_ = None
    fit_flux_models(model, train)
    default = model.predict_options()
    first = None
    for key, options in model._calibration_options().items():
        most = model._calibration_max_stars(key)
        sub = (
            calibration_set(model, valid, most, model.random_state)
            if snr_coverage
            else subset(valid, most, model.random_state)
        )
        pred = model._predict(sub, options)
        if first is None:
            first = (sub, pred)
        try:
            model.calibration_[key] = fit_calibration_on(
                model,
                sub,
                options,
                source="validation + copies degraded to S/N "
                f"{coverage_snr_min(model):g}"
                if snr_coverage
                else "validation",
                prediction=pred,
            )
        except ValueError as exc:
            model._warn(f"no error calibration ({key}): {exc}")
    sub, pred = first
    if model.calibration_key(default) != next(iter(model._calibration_options())):
        pred = model._predict(sub, default)
    pred = with_spectrum_check(model, pred, sub)
    ref = subset(train, 4000, model.random_state + 1)
    ref_pred = model._predict(ref, default) if pred.features is not None else None
    try:
        model.ood_ = fit_ood(
            None if ref_pred is None else ref_pred.features,
            ref.label_array(model.label_names_),
            pred.features,
            pred.mean,
            pred.ood_signals,
            seed=model.random_state,
            heldout_snr=sub.snr() if snr_coverage else None,
        )
    except ValueError as exc:
        model._warn(f"no OOD score: {exc}")


def fit_flux_models(model: Any, train: Spectra) -> None:
    """Set ``model.line_sensitivity_`` and ``model.spectrum_check_`` (the quadratic
    flux models of the own lines and of every pixel) from the training stars."""
    names = list(model.label_names_)
    labels = train.label_array(names)
    seed = model.random_state
    model.line_sensitivity_ = fit_line_sensitivity(
        model.wavelength_,
        train.flux,
        train.ivar,
        labels,
        names,
        medium=model.medium_,
        seed=seed,
    )
    model.spectrum_check_ = fit_spectrum_check(
        train.flux, train.ivar, labels, names, seed=seed
    )


def apply_reliability(
    model: Any, pred: LabelPrediction, spectra: Spectra, options: Any
) -> LabelPrediction:
    """``pred`` with the calibrated total, the spectrum check and the OOD score
    added."""
    pred = with_spectrum_check(model, pred, spectra)
    cal = getattr(model, "calibration_", {}).get(model.calibration_key(options))
    calibrated = calibrate_sigma(
        cal, pred.label_names, pred.sigma_raw, spectra.snr(), pred.mean
    )
    dead = ~np.isfinite(pred.mean)
    if calibrated is not None:
        calibrated[dead] = np.nan
    flags = snr_range_flags(pred, below_snr_range(cal, spectra.snr()))
    pred = dataclasses.replace(pred, flags=flags)
    flags = own_lines_flags(model, pred, spectra, calibrated)
    flags = weak_lines_flags(model, pred, spectra, calibrated, flags)
    score, signals = None, {}
    ood: OODModel | None = getattr(model, "ood_", None)
    if ood is not None:
        score, signals = ood.score(
            pred.features, pred.mean, pred.ood_signals, spectra.snr()
        )
        score = np.where(dead.all(axis=1), np.nan, score)
    return dataclasses.replace(
        pred,
        calibrated=calibrated,
        calibration_note=calibration_note(cal) if calibrated is not None else "",
        ood_score=score,
        ood_signals=signals,
        flags=flags,
    )


def with_spectrum_check(
    model: Any, pred: LabelPrediction, spectra: Spectra
) -> LabelPrediction:
    """``pred`` with ``chi2_labels`` (``models.spectrum_check``) as a column and an
    OOD signal (unchanged for models without a spectrum check)."""
    check: SpectrumCheck | None = getattr(model, "spectrum_check_", None)
    if check is None or not set(check.label_names) <= set(pred.label_names):
        return pred
    cols = [pred.label_names.index(n) for n in check.label_names]
    chi2 = check.chi2(pred.mean[:, cols], spectra.flux, spectra.ivar)
    return dataclasses.replace(
        pred,
        ood_signals=dict(pred.ood_signals) | {"chi2_labels": chi2},
        columns=dict(pred.columns) | {"chi2_labels": chi2},
        column_notes=dict(pred.column_notes) | {"chi2_labels": CHECK_NOTE},
    )


def _with_bit(
    flags: np.ndarray | None, rows: np.ndarray, bit: Flag
) -> np.ndarray | None:
    """``flags`` (None: none set yet) with ``bit`` set in ``rows``, modified in place."""
    if not rows.any():
        return flags
    flags = np.zeros(len(rows), np.int64) if flags is None else flags
    flags[rows] |= int(bit)
    return flags


def snr_range_flags(
    pred: LabelPrediction, below: np.ndarray | None
) -> np.ndarray | None:
    """``pred.flags`` with ``SNR_BELOW_CALIBRATION`` where ``below`` (live stars)."""
    flags = None if pred.flags is None else np.asarray(pred.flags, np.int64).copy()
    if below is None:
        return flags
    rows = below & np.isfinite(pred.mean).any(axis=1)
    return _with_bit(flags, rows, Flag.SNR_BELOW_CALIBRATION)


def prior_spread(model: Any, name: str) -> float:
    """The training set's standard deviation of ``name`` (models saved before it
    was recorded: the range's, as if uniform)."""
    std = (getattr(model, "label_std_", {}) or {}).get(name)
    if std is not None:
        return float(std)
    lo, hi = model.label_range_.get(name, (np.nan, np.nan))
    return float((hi - lo) / np.sqrt(12.0))


def prior_error(model: Any, name: str, value: np.ndarray) -> np.ndarray:
    """The error of ``value`` for a star whose spectrum says nothing of ``name``:
    the RMS distance from ``value`` of a star known only to follow the training
    distribution, ``sqrt(spread^2 + (value - mean)^2)`` (models saved before the
    training mean was recorded: the spread alone)."""
    spread = prior_spread(model, name)
    mean = (getattr(model, "label_mean_", {}) or {}).get(name)
    if mean is None:
        return np.full(np.shape(value), spread)
    return np.sqrt(spread**2 + (np.asarray(value, float) - float(mean)) ** 2)


def own_lines_flags(
    model: Any, pred: LabelPrediction, spectra: Spectra, calibrated: np.ndarray | None
) -> np.ndarray | None:
    """``pred.flags`` with ``OWN_LINES_MASKED`` where every line of an abundance's
    element is masked in the spectrum (``models.censor.own_lines_unseen``); there
    that abundance's calibrated error becomes the prior's (:func:`prior_error`, in
    place)."""
    unseen = own_lines_unseen(
        model.wavelength_, pred.label_names, spectra.ivar, medium=model.medium_
    )
    alive = np.isfinite(pred.mean).any(axis=1)
    flags = None if pred.flags is None else np.asarray(pred.flags, np.int64).copy()
    for name, rows in unseen.items():
        rows = rows & alive
        if not rows.any():
            continue
        if calibrated is not None:
            k = pred.label_names.index(name)
            calibrated[rows, k] = prior_error(model, name, pred.mean[rows, k])
        flags = _with_bit(flags, rows, Flag.OWN_LINES_MASKED)
    return flags


def weak_lines_flags(
    model: Any,
    pred: LabelPrediction,
    spectra: Spectra,
    calibrated: np.ndarray | None,
    flags: np.ndarray | None,
) -> np.ndarray | None:
    """``flags`` with ``OWN_LINES_WEAK`` where an abundance's own lines bound it no
    better than the training prior (``sigma_own`` of ``models.line_sensitivity``,
    marginal where the model has a spectrum check, above the training spread);
    there its calibrated error becomes the prior's (:func:`prior_error`), elsewhere
    it is at least what the own lines and the prior together allow,
    ``(1 / sigma_own^2 + 1 / spread^2)^(-1/2)`` (in place)."""
    sens: LineSensitivity | None = getattr(model, "line_sensitivity_", None)
    if sens is None or not set(sens.label_names) <= set(pred.label_names):
        return flags
    cols = [pred.label_names.index(n) for n in sens.label_names]
    check = getattr(model, "spectrum_check_", None)
    bounds = sens.bound(pred.mean[:, cols], spectra.ivar, check)
    for name, bound in bounds.items():
        k = pred.label_names.index(name)
        spread = prior_spread(model, name)
        alive = np.isfinite(pred.mean[:, k]) & ~np.isnan(bound)
        weak = alive & (bound > spread)
        if calibrated is not None:
            with np.errstate(divide="ignore"):
                floor = 1.0 / np.sqrt(1.0 / bound**2 + 1.0 / spread**2)
            col = calibrated[:, k]
            prior = prior_error(model, name, pred.mean[:, k])
            calibrated[:, k] = np.where(
                weak, prior, np.where(alive, np.fmax(col, floor), col)
            )
        flags = _with_bit(flags, weak, Flag.OWN_LINES_WEAK)
    return flags


def reliability_parts(model: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """``model.json`` entries and tensor files of the calibration and OOD score."""
    manifest: dict[str, Any] = {
        "calibration": {
            key: {n: c.to_dict() for n, c in cal.items()}
            for key, cal in getattr(model, "calibration_", {}).items()
        },
        "calibration_history": list(getattr(model, "calibration_history_", [])),
    }
    files: dict[str, Any] = {}
    ood = getattr(model, "ood_", None)
    if ood is not None:
        manifest["ood"], arrays = ood.to_manifest()
        files[OOD_FILE] = {k: torch.as_tensor(v) for k, v in arrays.items()}
    for key, (file, _) in FLUX_MODELS.items():
        part = getattr(model, f"{key}_", None)
        if part is not None:
            manifest[key], arrays = part.to_manifest()
            files[file] = {k: torch.as_tensor(v) for k, v in arrays.items()}
    return manifest, files


def restore_reliability(model: Any, path: Path, manifest: Mapping[str, Any]) -> None:
    """Calibration and OOD score back from a model directory (older directories
    have neither: ``_err`` is then uncalibrated and there is no ``ood_score``)."""
    model.calibration_ = {
        key: {n: LabelCalibration.from_dict(c) for n, c in cal.items()}
        for key, cal in manifest.get("calibration", {}).items()
    }
    model.calibration_history_ = list(manifest.get("calibration_history", []))
    model.ood_ = None
    if "ood" in manifest and OOD_FILE in manifest.get("files", []):
        arrays = {k: v.numpy() for k, v in load_tensors(path, OOD_FILE).items()}
        model.ood_ = OODModel.from_manifest(manifest["ood"], arrays)
    for key, (file, cls) in FLUX_MODELS.items():
        part = None
        if key in manifest and file in manifest.get("files", []):
            arrays = {k: v.numpy() for k, v in load_tensors(path, file).items()}
            part = cls.from_manifest(manifest[key], arrays)
        setattr(model, f"{key}_", part)
