"""What the web app asks of models, through the public API (``starlabel.load`` and
the estimator protocol): a model's labels and ranges, an emulator's spectrum for
given labels, the autoencoder's edit of a star, a cINN's posterior draws."""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import StarlabelInputError
from ..models.base import (
    EditingEstimator,
    EmulatingEstimator,
    PosteriorEstimator,
    SaliencyEstimator,
)
from ..spectra.io.hdf5 import DatasetReader
from ..spectra.labels import label_spec

__all__ = ["ModelCache", "json_curve"]


def json_curve(wavelength: np.ndarray, *curves: np.ndarray) -> dict[str, list]:
    """Curves as JSON lists (NaN -> null) with a break (null) at gaps in the grid
    (between setups or chips), so that lines are not drawn across them."""
    wave = np.asarray(wavelength, float)
    step = np.diff(wave)
    gaps = np.flatnonzero(step > 20 * np.median(step)) + 1 if wave.size > 2 else []
    wave = np.insert(wave, gaps, (wave[np.asarray(gaps) - 1] + wave[gaps]) / 2)

    def clean(a: np.ndarray) -> list[float | None]:
        a = np.insert(np.asarray(a, float), gaps, np.nan)
        return [None if not np.isfinite(v) else round(float(v), 6) for v in a]

    return {
        "wavelength": [round(float(w), 4) for w in wave],
        "curves": [clean(c) for c in curves],
    }


class ModelCache:
    """The last few models asked for, loaded once (``starlabel.load``: reads only
    ``model.json`` and safetensors files, executes nothing)."""

    def __init__(self, size: int = 3) -> None:
        self.models: OrderedDict[tuple[str, int], Any] = OrderedDict()
        self.size = size
        self.lock = threading.Lock()

    def get(self, path: Path) -> Any:
        from ..models import load

        stamp = (path / "model.json").stat().st_mtime_ns
        key = (str(path), stamp)
        with self.lock:
            if key in self.models:
                self.models.move_to_end(key)
                return self.models[key]
            model = load(path)
            self.models[key] = model
            while len(self.models) > self.size:
                self.models.popitem(last=False)
            return model


def model_info(model: Any) -> dict[str, Any]:
    names = list(getattr(model, "label_names_", []))
    ranges = getattr(model, "label_range_", {}) or {}
    return {
        "kind": model.kind,
        "labels": names,
        "units": {n: label_spec(n).unit for n in names},
        "ranges": {n: list(map(float, ranges[n])) for n in names if n in ranges},
        "can": {
            "emulate": isinstance(model, EmulatingEstimator),
            "edit": isinstance(model, EditingEstimator),
            "sample": isinstance(model, PosteriorEstimator),
            "saliency": isinstance(model, SaliencyEstimator),
        },
    }


def one_star(dataset: Path, row: int) -> Any:
    with DatasetReader(dataset) as reader:
        return reader.read(slice(row, row + 1))


def emulated(model: Any, labels: dict[str, float]) -> dict[str, Any]:
    """The emulator's spectrum for ``labels`` (missing ones at the middle of the
    training range)."""
    if not isinstance(model, EmulatingEstimator):
        raise StarlabelInputError(
            f"a {model.kind} model cannot draw a spectrum from labels"
        )
    ranges = getattr(model, "label_range_", {}) or {}
    x = []
    for n in model.label_names_:
        v = labels.get(n)
        if v is None or not np.isfinite(v):
            lo, hi = ranges.get(n, (0.0, 0.0))
            v = (lo + hi) / 2
        x.append(float(v))
    flux = model.emulate(np.asarray([x]))[0]
    return json_curve(model.wavelength_, flux) | {
        "labels": dict(zip(model.label_names_, x, strict=True))
    }


def edited(
    model: Any, dataset: Path, row: int, changes: dict[str, float]
) -> dict[str, Any]:
    """The autoencoder's reconstruction of a star and its edit with ``changes``."""
    if not isinstance(model, EditingEstimator):
        raise StarlabelInputError(f"a {model.kind} model cannot edit spectra")
    sp = one_star(dataset, row)
    out = model.edit(sp, 0, changes)
    return json_curve(out.wavelength, out.original, out.reconstruction, out.edited) | {
        "labels": {k: float(v) for k, v in out.labels.items()},
        "edited_labels": {k: float(v) for k, v in out.edited_labels.items()},
    }


def posterior(model: Any, dataset: Path, row: int, n: int) -> dict[str, Any]:
    """``n`` posterior draws of a star's labels (a cINN)."""
    if not isinstance(model, PosteriorEstimator):
        raise StarlabelInputError(f"a {model.kind} model has no posterior to draw from")
    draws = model.sample(one_star(dataset, row), n_samples=n, seed=0)[0]
    return {
        "labels": list(model.label_names_),
        "samples": {
            name: [None if not np.isfinite(v) else float(v) for v in draws[:, k]]
            for k, name in enumerate(model.label_names_)
        },
    }


def saliency_of(model: Any, dataset: Path, row: int, label: str) -> dict[str, Any]:
    """d(label)/d(flux) of one star: which pixels the model's ``label`` relies on."""
    from ..diagnostics.saliency import saliency
    from ..spectra.preprocess import dense_flux

    if not isinstance(model, SaliencyEstimator):
        raise StarlabelInputError(f"a {model.kind} model has no saliency")
    names = list(model.label_names_)
    if label not in names:
        raise ValueError(f"label: {label!r} is not a label of this model {names}")
    flux, dead = dense_flux(one_star(dataset, row))
    if dead[0]:
        raise StarlabelInputError("no usable pixel", path=dataset)
    grads = saliency(model.label_function(), flux)[names.index(label), 0]
    unit = label_spec(label).unit
    return json_curve(model.wavelength_, grads) | {"label": label, "unit": unit}


def strong_lines(lo: float, hi: float, n: int = 60) -> list[dict[str, Any]]:
    """The ``n`` strongest lines of the package line list between ``lo`` and ``hi``
    (Angstrom, air), by log gf - 5040/T * EP at 5000 K: markers for a spectrum."""
    from ..synth.atoms import load_linelist

    lines = load_linelist().in_range(lo, hi)
    if len(lines) == 0:
        return []
    strength = lines.loggf - 5040.0 / 5000.0 * lines.ep
    order = np.argsort(-strength)[:n]
    return [
        {
            "wavelength": round(float(lines.wavelength[i]), 3),
            "name": f"{lines.species[i]} {'I' * int(lines.ion[i])}",
        }
        for i in sorted(order, key=lambda i: lines.wavelength[i])
    ]
