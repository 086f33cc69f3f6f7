"""The protocol every estimator follows, and what it returns.

Every starlabel estimator (CNN deep ensemble, cINN, disentangling autoencoder)
offers::

    est.fit(train, valid=None) -> est
    est.predict(spectra, options=None) -> LabelPrediction
    est.save(path, overwrite=False)          # a model directory
    starlabel.load(path)                     # any model directory

What a model can do beyond that is a protocol of its own, checked with
``isinstance`` (never by its ``kind`` or ``hasattr`` outside ``models/``):

* :class:`SaliencyEstimator` (CNN, cINN, autoencoder): ``est.label_function()``, a
  differentiable ``flux -> labels`` for saliency;
* :class:`PosteriorEstimator` (cINN), on NumPy arrays:
  ``est.sample(spectra, n_samples=..., seed=...) -> (n_spectra, n_samples,
  n_labels)`` and ``est.log_prob(labels, spectra) -> (n_spectra,)``;
* :class:`EditingEstimator` (autoencoder): ``est.edit(spectra, star, changes)``,
  a star's spectrum redrawn with other labels;
* :class:`EmulatingEstimator` (spectrum emulator): ``est.emulate(labels)`` (labels
  -> flux) and the per-star fit of every label (``est.fit_spectra``).

Prediction options are one frozen dataclass per model (``est.options_class``),
validated when built; ``est.predict_options(**flags)`` builds it from command-line
style keywords and refuses those that are not options of the model.

Uncertainty vocabulary (one for every model and every catalogue):

* ``sigma_total`` -> catalogue ``<name>_err``: the 1-sigma uncertainty a user should
  quote, the quadrature sum of the parts the model provides.
* ``sigma_internal`` -> ``<name>_err_int`` and ``sigma_external`` ->
  ``<name>_err_ext``: the papers' split. What each part measures depends on the
  model; every estimator class states it in ``uncertainty_parts`` (copied into the
  catalogue's column descriptions) and the README's table repeats it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..spectra.labels import label_spec

__all__ = [
    "Estimator",
    "LabelPrediction",
    "NotFittedError",
    "PosteriorEstimator",
]

try:  # sklearn's class when available, so sklearn tools recognise it
    from sklearn.exceptions import NotFittedError
except ImportError:  # pragma: no cover

    class NotFittedError(ValueError, AttributeError):  # type: ignore[no-redef]
        """The estimator is used before ``fit``."""


@dataclass(frozen=True)
class LabelPrediction:
    """Predicted labels with their uncertainty split into two parts.

    Attributes:
        label_names: ``(n_labels,)`` names.
        mean: ``(n_spectra, n_labels)`` point estimates, in the labels' units.
        sigma_internal: ``(n_spectra, n_labels)`` the model's internal part (for
            the CNN ensemble: spread of the members; for the cINN: width of the
            posterior; see the estimator's ``uncertainty_parts``); NaN where the
            model has no such part.
        sigma_external: ``(n_spectra, n_labels)`` the external part (for the cINN
            in precision mode: scatter caused by the data noise; for the
            autoencoder: the regressor's held-out scatter); NaN where none.
        descriptions: ``{"int": ..., "ext": ...}`` what the two parts are for the
            model that made this prediction (catalogue column descriptions), and
            ``"total"`` where the model's own total is not their quadrature sum.
        total: ``(n_spectra, n_labels)`` the model's own total where it is not the
            quadrature sum of the parts (None: it is).
        calibrated: ``(n_spectra, n_labels)`` the recalibrated total (None: the
            model has no calibration for these options); ``calibration_note``
            says what it was fitted on.
        ood_score: ``(n_spectra,)`` out-of-distribution score (> 1: flagged; None:
            the model has no OOD reference); ``ood_signals`` its standardised parts.
        features: ``(n_spectra, d)`` the model's learned features (OOD distance).
        columns: further per-star catalogue columns (a per-star fit's ``chi2``,
            ``fit_iter``, ...), described in ``column_notes``.
        flags: ``(n_spectra,)`` flag bits the model sets (``spectra.Flag``), or
            None.
    """

    label_names: tuple[str, ...]
    mean: np.ndarray
    sigma_internal: np.ndarray
    sigma_external: np.ndarray
    descriptions: Mapping[str, str] = field(default_factory=dict)
    total: np.ndarray | None = None
    calibrated: np.ndarray | None = None
    calibration_note: str = ""
    ood_score: np.ndarray | None = None
    ood_signals: Mapping[str, np.ndarray] = field(default_factory=dict)
    features: np.ndarray | None = None
    columns: Mapping[str, np.ndarray] = field(default_factory=dict)
    column_notes: Mapping[str, str] = field(default_factory=dict)
    flags: np.ndarray | None = None

    @property
    def sigma_raw(self) -> np.ndarray:
        """The model's own total: ``total`` where the model defines one (the cINN's
        precision-mode choices), else the quadrature sum of the available parts
        (NaN where none is available)."""
        if self.total is not None:
            return self.total
        parts = np.stack([self.sigma_internal, self.sigma_external])
        have = np.isfinite(parts)
        total = np.sqrt(np.sum(np.where(have, parts, 0.0) ** 2, axis=0))
        return np.where(have.any(axis=0), total, np.nan)

    @property
    def sigma_total(self) -> np.ndarray:
        """The 1-sigma a user should quote: ``calibrated`` when the model has a
        calibration (``models.recalibration``), else :attr:`sigma_raw`."""
        return self.sigma_raw if self.calibrated is None else self.calibrated

    def __len__(self) -> int:
        return int(self.mean.shape[0])

    def to_table(self, ids=None, *, split: bool = True):
        """An astropy ``Table``: ``id``, ``<name>``, ``<name>_err`` and, with ``split``,
        ``<name>_err_int`` and ``<name>_err_ext``; units and descriptions in the
        column metadata.

        Example:
            >>> p = LabelPrediction(("teff",), np.array([[5000.0]]),
            ...     np.array([[30.0]]), np.array([[40.0]]))
            >>> t = p.to_table(["a"])
            >>> float(t["teff_err"][0]), t.colnames
            (50.0, ['id', 'teff', 'teff_err', 'teff_err_int', 'teff_err_ext'])
        """
        from astropy.table import Table

        table = Table()
        if ids is not None:
            table["id"] = np.asarray(ids).astype(str)
            table["id"].description = "spectrum id, as in the input dataset"
        total = self.sigma_total
        for k, name in enumerate(self.label_names):
            unit = label_spec(name).unit or None
            table[name] = self.mean[:, k]
            table[name].unit = unit
            table[name].description = f"{name}: point estimate"
            table[f"{name}_err"] = total[:, k]
            table[f"{name}_err"].unit = unit
            raw_text = self.descriptions.get(
                "total", "quadrature sum of _err_int and _err_ext where available"
            )
            if self.calibrated is None:
                table[
                    f"{name}_err"
                ].description = (
                    f"{name}: total 1-sigma uncertainty ({raw_text}); NOT calibrated"
                )
            else:
                table[f"{name}_err"].description = (
                    f"{name}: calibrated total 1-sigma uncertainty "
                    f"({self.calibration_note or 'see model.json'})"
                )
                table[f"{name}_err_raw"] = self.sigma_raw[:, k]
                table[f"{name}_err_raw"].unit = unit
                table[
                    f"{name}_err_raw"
                ].description = (
                    f"{name}: the model's own total before calibration ({raw_text})"
                )
            if split:
                for suffix, values in (
                    ("int", self.sigma_internal),
                    ("ext", self.sigma_external),
                ):
                    col = f"{name}_err_{suffix}"
                    table[col] = values[:, k]
                    table[col].unit = unit
                    table[col].description = f"{name}: " + self.descriptions.get(
                        suffix, "not provided by this model (NaN)"
                    )
        if self.ood_score is not None:
            table["ood_score"] = self.ood_score
            table["ood_score"].description = (
                "out-of-distribution score (models.ood): > 1 is unlike the training "
                "set (threshold: 1.5 % of held-out training stars, so <= 2 % of new ones)"
            )
        for name, values in self.columns.items():
            table[name] = values
            table[name].description = self.column_notes.get(name, name)
        return table


@runtime_checkable
class Estimator(Protocol):
    """What every starlabel estimator offers (see the module documentation)."""

    kind: str

    def fit(self, train: Any, valid: Any = None) -> Estimator: ...

    def predict(self, spectra: Any, options: Any = None) -> LabelPrediction: ...

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path: ...


@runtime_checkable
class SaliencyEstimator(Estimator, Protocol):
    """An estimator whose labels are a differentiable function of the flux."""

    def label_function(self) -> Callable: ...


@runtime_checkable
class EditingEstimator(Estimator, Protocol):
    """An estimator that redraws a star's spectrum with other labels."""

    def edit(self, spectra: Any, star: str, changes: Mapping[str, float]) -> Any: ...


@runtime_checkable
class EmulatingEstimator(Estimator, Protocol):
    """An estimator that draws spectra from labels and fits labels to spectra."""

    def emulate(self, labels: np.ndarray) -> np.ndarray: ...

    def fit_spectra(self, spectra: Any, *args: Any, **kwargs: Any) -> Any: ...


@runtime_checkable
class PosteriorEstimator(Estimator, Protocol):
    """An estimator with a full posterior per star."""

    def sample(self, spectra: Any, *, n_samples: int, seed: int = 0) -> np.ndarray: ...

    def log_prob(self, labels: np.ndarray, spectra: Any) -> np.ndarray: ...
