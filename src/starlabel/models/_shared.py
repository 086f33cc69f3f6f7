"""Pieces every spectral model shares: the protocol's common half (fitted check, grid
check, options, config resolution, save, summary), device choice, model directory
helpers, the training progress bar."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from sklearn.base import BaseEstimator

from .. import __version__
from .._config import to_toml
from ..spectra.container import Spectra
from ..spectra.labels import label_spec
from .base import LabelPrediction, NotFittedError
from .directory import ModelDirectory
from .fitting import FitTemplate, check_trainable
from .grid import check_grid, grid_manifest, grid_tensors, load_grid
from .options import PredictOptions, resolve_config
from .reliability import (
    apply_reliability,
    fit_reliability,
)
from .tensors import device_of, load_state, noise_tensors

log = logging.getLogger(__name__)

__all__ = [
    "check_trainable",
    "noise_tensors",
    "SpectralModel",
    "check_grid",
    "device_of",
    "grid_manifest",
    "grid_tensors",
    "load_grid",
    "load_state",
]


class SpectralModel(FitTemplate, ModelDirectory, BaseEstimator):
    """What every starlabel estimator shares (the protocol of ``models.base``):
    fitted-state check, grid check, typed predict options, preset + flag
    resolution, label bookkeeping, the common part of ``model.json``, saving and a
    summary; the fit template (``models.fitting``) and the model directory
    (``models.directory``). Subclasses set the class attributes below and supply
    the hooks of both, ``_predict`` and ``label_function``."""

    #: ``--model`` name and ``model.json`` kind, and what it is in a few words
    #: (``train --help``).
    kind: ClassVar[str] = ""
    title: ClassVar[str] = ""
    #: attribute that exists only after ``fit``.
    _fitted_attr: ClassVar[str] = "members_"
    config_class: ClassVar[type] = object
    options_class: ClassVar[type[PredictOptions]] = PredictOptions
    presets: ClassVar[Mapping[str, Any]] = {}
    default_preset: ClassVar[str] = ""
    #: command-line flag -> config field (dotted path).
    flag_fields: ClassVar[Mapping[str, str]] = {}
    #: what ``_err_int`` and ``_err_ext`` are for this model.
    uncertainty_parts: ClassVar[Mapping[str, str]] = {}
    #: what the validation loss in ``model.json`` measures.
    loss_name: ClassVar[str] = ""
    #: ``starlabel tune``: config field (dotted path) -> range
    #: (``models.space``), the config fields every trial sets, and the default
    #: objective (``loss``: the validation loss; ``scatter``: the labels' scatter).
    search_space: ClassVar[Mapping[str, Any]] = {}
    search_fixed: ClassVar[Mapping[str, Any]] = {}
    search_metric: ClassVar[str] = "loss"

    def __init__(
        self,
        config: Any = None,
        *,
        labels: Sequence[str] | None = None,
        device: str = "auto",
        random_state: int = 0,
        show_progress: bool = False,
    ) -> None:
        self.config = config
        self.labels = labels
        self.device = device
        self.random_state = random_state
        self.show_progress = show_progress

    # ------------------------------------------------------ configuration
    @property
    def _config(self) -> Any:
        if self.config is None:
            return self.presets[self.default_preset]
        return self.config

    def resolved_config(self) -> Any:
        """The config this estimator trains with: ``config``, or the default
        preset's when ``config`` is None."""
        return self._config

    @classmethod
    def adjust_flags(cls, base: Any, flags: dict[str, Any]) -> dict[str, Any]:
        """Flags that imply others (hook for subclasses); default: as given."""
        return flags

    @classmethod
    def configure(
        cls, *, preset: str | None = None, base: Any = None, **flags: Any
    ) -> Any:
        """The config from a preset (or ``base``) and command-line style overrides;
        ``None`` values are "not given", flags that are not this model's are refused.

        Example:
            >>> from starlabel.models import DeepEnsembleRegressor as M
            >>> M.configure(max_epochs=8, ensemble=2).train.max_epochs
            8
        """
        return resolve_config(cls, preset=preset, base=base, flags=flags)

    @classmethod
    def predict_options(cls, **flags: Any) -> PredictOptions:
        """Typed predict options from command-line style keywords (``None`` = not
        given); a flag this model does not take is refused with a one-line error."""
        return cls.options_class.from_flags(flags, model=cls.kind)

    def run_config(self) -> dict[str, Any]:
        """The resolved run: model kind, labels, seed and full config (``config.toml``,
        ``starlabel train --print-config`` / ``--config``)."""
        run: dict[str, Any] = {"model": self.kind}
        labels = getattr(self, "label_names_", None) or self.labels
        if labels is not None:
            run["labels"] = list(labels)
        extra = getattr(self, "extra", ())
        if extra:
            run["extra"] = list(extra)
        run["seed"] = int(self.random_state)
        run["config"] = self._config.to_dict()
        return run

    def run_toml(self) -> str:
        """:meth:`run_config` as TOML."""
        return to_toml(
            self.run_config(),
            header=f"starlabel {__version__}: train --config FILE reproduces this run",
        )

    # ------------------------------------------------------------ predict
    def predict(
        self, spectra: Spectra, options: PredictOptions | None = None
    ) -> LabelPrediction:
        """Labels and uncertainties for ``spectra`` (on the training grid).

        Args:
            spectra: the spectra; those without a single usable pixel get NaN.
            options: this model's ``options_class`` (default: its defaults).

        Returns:
            ``LabelPrediction`` whose parts are described by ``uncertainty_parts``.
        """
        self._check_fitted()
        options = self._options(options)
        self.check_grid(spectra)
        pred = self._predict(spectra, options)
        pred = dataclasses.replace(
            pred,
            descriptions=dict(self.uncertainty_parts_for(options))
            | dict(pred.descriptions),
        )
        return apply_reliability(self, pred, spectra, options)

    def predict_raw(
        self, spectra: Spectra, options: PredictOptions | None = None
    ) -> LabelPrediction:
        """The model's own prediction, before the error calibration and the OOD
        score (what ``starlabel calibrate`` fits the calibration on)."""
        self._check_fitted()
        options = self._options(options)
        self.check_grid(spectra)
        return self._predict(spectra, options)

    # ------------------------------------------------- calibration and OOD
    def calibration_key(self, options: PredictOptions) -> str:
        """Which calibration in ``model.json`` belongs to predictions with
        ``options`` (models whose errors depend on options override this)."""
        return "default"

    def _calibration_options(self) -> dict[str, PredictOptions]:
        """Options fitted with a calibration after training, default first."""
        return {"default": self.predict_options()}

    def _calibration_max_stars(self, key: str) -> int:
        """Validation stars used for the calibration of ``key``."""
        return 5000

    def _fit_reliability(self, train: Spectra, valid: Spectra) -> None:
        """Fit the error calibration and OOD score on the validation stars (the last
        step of every ``fit``)."""
        fit_reliability(self, train, valid)

    def uncertainty_parts_for(
        self, options: PredictOptions | None = None
    ) -> Mapping[str, str]:
        """What ``_err_int`` / ``_err_ext`` mean for a prediction with ``options``."""
        return self.uncertainty_parts

    def _options(self, options: PredictOptions | None) -> PredictOptions:
        if options is None:
            return self.options_class()
        if not isinstance(options, self.options_class):
            raise TypeError(
                f"options: expected {self.options_class.__name__} for a {self.kind} "
                f"model, got {type(options).__name__}"
            )
        return options

    def _predict(self, spectra: Spectra, options: Any) -> LabelPrediction:
        raise NotImplementedError

    def summary(self) -> dict[str, str]:
        """Plain-text facts about the fitted model, for ``starlabel info``."""
        self._check_fitted()
        labels = ", ".join(
            f"{n} [{u}]" if u else n
            for n, u in zip(self.label_names_, self.label_units_, strict=True)
        )
        wl = self.wavelength_
        return (
            {
                "kind": f"{self.kind} ({type(self).__name__})",
                "labels": labels,
                "grid": f"{wl.size} px, {wl[0]:.2f}-{wl[-1]:.2f} Angstrom ({self.medium_})",
                "trained on": f"{self.n_train_} spectra",
                "seed": str(self.random_state),
            }
            | self._summary()
            | self._reliability_summary()
        )

    def _reliability_summary(self) -> dict[str, str]:
        cal = getattr(self, "calibration_", {}) or {}
        parts = []
        for key, labels in cal.items():
            sources = sorted({c.source for c in labels.values()})
            z = ", ".join(
                f"{n} {c.z_std_raw:.3g}->{c.z_std:.2f}" for n, c in labels.items()
            )
            parts.append(f"{key} on {', '.join(sources)} (z std raw->calibrated: {z})")
        ood = getattr(self, "ood_", None)
        return {
            "calibration": "; ".join(parts) or "none: _err is not calibrated",
            "ood score": (
                f"{', '.join(ood.combine)}; threshold from {ood.n_heldout} held-out stars"
                if ood is not None
                else "none"
            ),
        }

    def _summary(self) -> dict[str, str]:
        """The kept members and their validation losses (models add their own)."""
        losses = ", ".join(f"{x:.4f}" for x in self.member_losses_)
        return {
            "members": f"{len(self.members_)} kept (seeds {self.member_seeds_})",
            "validation loss": f"{losses} ({self.loss_name})",
        }

    def _check_fitted(self) -> None:
        if not hasattr(self, self._fitted_attr):
            raise NotFittedError(
                f"{type(self).__name__} is not fitted yet; call fit() or starlabel.load()"
            )

    def check_grid(self, spectra: Spectra, source: str | None = None) -> None:
        """Refuse spectra on another wavelength grid than the training grid."""
        self._check_fitted()
        check_grid(self.wavelength_, spectra, source)

    def _set_labels(self, train: Spectra) -> list[str]:
        """Label names and units from ``self.labels`` (default: all of ``train``)."""
        names = list(self.labels) if self.labels is not None else train.label_names
        if not names:
            raise ValueError("train: the training set has no labels")
        missing = [n for n in names if n not in train.labels]
        if missing:
            raise ValueError(
                f"labels: {missing} not in the training set; it has {train.label_names}"
            )
        self.label_names_ = tuple(names)
        self.label_units_ = tuple(
            train.label_units.get(n, label_spec(n).unit) for n in names
        )
        return names
