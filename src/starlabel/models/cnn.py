"""CNN regressor with deep-ensemble uncertainties (Ambrosch et al. 2023; Guiglion 2024).

``DeepEnsembleRegressor`` trains ``n_members`` networks with different seeds, keeps
the ``n_keep`` with the lowest validation loss, and predicts the member mean. The
members' standard deviation is the internal uncertainty (``_err_int``, model
uncertainty only); members trained with MSE give no noise term (``_err_ext`` NaN),
members trained with ``loss="beta_nll"`` predict a variance each and give the
mixture's noise part as ``_err_ext``. The error calibration turns these into ``_err``.

Labels are standardised inside the model (a :class:`Standardizer` whose statistics
are saved with the weights). Labels missing for a star (NaN) are masked out of the
loss, so stars with incomplete labels still train the labels they have. Masked
pixels (``ivar == 0``) are filled by linear interpolation before the network sees
them. Optional augmentation adds noise drawn from the inverse variance and small
radial-velocity shifts at training time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import StarlabelInputError
from ..nn import ConvRegressor, Standardizer
from ..spectra.container import Spectra
from ._shared import (
    SpectralModel,
    device_of,
    fit_flux_scaler,
    load_state,
    scaled_flux,
)
from .base import LabelPrediction
from .cnn_config import (
    CNN_SEARCH_SPACE,
    PRESETS,
    CNNConfig,
    CNNPredictOptions,
    EnsembleConfig,
)
from .cnn_parts import (
    _jitter_shift,
    batch_tensors,
    member_loss,
    member_outputs,
    mixture_moments,
)
from .members import keep_best, member_history, train_members
from .options import TRAIN_FLAGS

__all__ = [
    "CNNConfig",
    "CNNPredictOptions",
    "DeepEnsembleRegressor",
    "EnsembleConfig",
    "PRESETS",
    "mixture_moments",
]

log = logging.getLogger(__name__)


class DeepEnsembleRegressor(SpectralModel):
    """Deep ensemble of 1D CNNs predicting stellar labels.

    Args:
        config: the ensemble and training settings (default: Ambrosch 2023).
        labels: label names to predict (default: all labels of the training set).
        extra: names of ``/extra`` inputs joined to the spectral features (hybrid CNN).
        device: ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.
        random_state: seed of member ``k`` is ``random_state + k``.
        show_progress: draw a progress bar while training.

    Example:
        >>> from starlabel.training import TrainConfig
        >>> est = DeepEnsembleRegressor(EnsembleConfig(n_members=2, n_keep=1,
        ...     train=TrainConfig(max_epochs=2)), labels=["teff"])
        >>> est.get_params()["random_state"]
        0

    References:
        Ambrosch et al. 2023, A&A 672, A46 (arXiv:2302.02611); Lakshminarayanan et
        al. 2017 (deep ensembles).
    """

    kind = "cnn"
    _fitted_attr = "members_"
    config_class = EnsembleConfig
    options_class = CNNPredictOptions
    presets = PRESETS
    default_preset = "default"
    search_space = CNN_SEARCH_SPACE
    #: a trial trains one member: the ensemble is for the error bars, the network's
    #: sizes are chosen on one (``best.toml`` keeps the base config's members)
    search_fixed = {"n_members": 1, "n_keep": 1}
    flag_fields = {
        "ensemble": "n_members",
        "keep": "n_keep",
        **TRAIN_FLAGS,
        "augment_noise": "augment_noise",
        "augment_snr": "augment_snr_min",
        "rv_jitter": "rv_jitter_kms",
        "loss": "loss",
    }
    uncertainty_parts = {
        "int": "spread (standard deviation) of the ensemble members' predictions: "
        "model uncertainty only",
        "ext": "not provided: members trained with MSE give no noise term (NaN)",
    }

    @property
    def loss_name(self) -> str:  # type: ignore[override]
        """What the validation loss measures (depends on ``config.loss``)."""
        if self._config.loss == "beta_nll":
            return "beta-weighted Gaussian NLL per label (standardised)"
        return "standardised MSE per label"

    def uncertainty_parts_for(self, options: Any = None) -> dict[str, str]:
        """MSE members: the spread only; ``beta_nll`` members: the mixture's parts."""
        if self._config.loss == "beta_nll":
            return {
                "int": "standard deviation of the members' means (ddof 0): model "
                "uncertainty, the mixture's variance-of-means part",
                "ext": "square root of the members' mean predicted variance: data "
                "(noise) uncertainty from the Gaussian likelihood",
            }
        return dict(self.uncertainty_parts)

    @classmethod
    def adjust_flags(
        cls, base: EnsembleConfig, flags: dict[str, Any]
    ) -> dict[str, Any]:
        """``ensemble`` alone keeps at most as many members as are trained."""
        if "ensemble" in flags and "keep" not in flags:
            return flags | {"keep": min(base.n_keep, flags["ensemble"])}
        return flags

    def __init__(
        self,
        config: EnsembleConfig | None = None,
        *,
        labels: Sequence[str] | None = None,
        extra: Sequence[str] = (),
        device: str | None = "auto",
        random_state: int = 0,
        show_progress: bool = False,
    ) -> None:
        self.config = config
        self.labels = labels
        self.extra = extra
        self.device = device
        self.random_state = random_state
        self.show_progress = show_progress

    # ---------------------------------------------------------------- helpers
    def _build(self, n_pixels: int) -> torch.nn.Module:
        c = self._config.cnn
        heteroscedastic = self._config.loss == "beta_nll"
        net = ConvRegressor(
            n_pixels,
            len(self.label_names_) * (2 if heteroscedastic else 1),
            channels=c.channels,
            kernel_size=c.kernel_size,
            pool=c.pool,
            dense=c.dense,
            dropout=c.dropout,
            slope=c.slope,
            n_extra=len(self.extra_names_),
            batch_norm=c.batch_norm,
        )
        module = torch.nn.Module()
        module.net = net
        module.scaler = Standardizer(len(self.label_names_))
        if self._config.standardize_flux:
            module.flux_scaler = Standardizer(n_pixels)
        return module

    # -------------------------------------------------------------------- fit
    def fit(
        self, train: Spectra, valid: Spectra | None = None
    ) -> DeepEnsembleRegressor:
        """Train the ensemble.

        Args:
            train: training spectra with labels (NaN = unknown label).
            valid: spectra for early stopping and member selection; by default
                ``valid_fraction`` of ``train`` (random, seeded).

        Returns:
            self.

        Raises:
            ValueError: fewer than 2 training spectra, no value for a label, or a
                validation set on another grid.
        """
        cfg = self._config
        names = self._begin_fit(train)
        self.extra_names_ = tuple(self.extra)
        train, validation = self._split_valid(train, valid)
        self._fit_grid(train, validation)
        if cfg.n_keep == 1 and cfg.loss == "mse":
            self._warn(
                "a 1-member ensemble has no spread: its catalogues' _err_raw and "
                "_err_int are NaN, and _err is only the calibration's floor and S/N "
                "terms, not a per-star model uncertainty (train with --ensemble 2 "
                "or more)"
            )
        dev = device_of(self.device)
        tr, va = (
            batch_tensors(sp, names, self.extra_names_, dev)
            for sp in (train, validation)
        )
        known = tr[3].sum(0)
        if (known == 0).any():
            empty = [n for n, k in zip(names, known.tolist(), strict=True) if k == 0]
            raise ValueError(f"train: no star has a value for {empty}")
        per_px = _jitter_shift(
            torch.as_tensor(self.wavelength_, dtype=torch.float32, device=dev)
        )

        def build(seed: int) -> torch.nn.Module:
            module = self._build(train.n_pixels).to(dev)
            module.scaler.fit(
                torch.where(tr[3], tr[2], torch.full_like(tr[2], float("nan")))
            )
            if cfg.standardize_flux:
                fit_flux_scaler(module, tr[0])
            return module

        members = train_members(
            build,
            member_loss(cfg, per_px),
            tr,
            va,
            cfg.train,
            n_members=cfg.n_members,
            random_state=self.random_state,
            device=dev,
            show_progress=self.show_progress,
        )
        kept = keep_best(members, cfg.n_keep)
        self.members_ = [m.module.to(dev) for m in kept]
        self.member_seeds_ = [m.seed for m in kept]
        self.member_losses_ = [m.loss for m in kept]
        self.history_ = member_history(members, kept)
        bad = [x for x in self.member_losses_ if not np.isfinite(x) or x > 1e3]
        if bad:
            self._warn(
                f"validation loss {bad[0]:.3g} ({self.loss_name}; ~1 means it predicts "
                "the mean): the ensemble did not learn"
            )
        self._record_training(train, names)
        self._fit_reliability(train, validation)
        return self

    def _split_valid(
        self, train: Spectra, valid: Spectra | None
    ) -> tuple[Spectra, Spectra]:
        """``valid``, or ``valid_fraction`` of ``train`` (random, seeded)."""
        if valid is None:
            if train.n_spectra < 2:
                raise ValueError(
                    f"train: {train.n_spectra} spectrum; a CNN needs at least 2 "
                    "(one to train on, one to validate)"
                )
            fraction = self._config.valid_fraction
            train, valid = train.split((1 - fraction, fraction), seed=self.random_state)
        if train.n_spectra < 1 or valid.n_spectra < 1:
            raise ValueError("train: too few spectra to train and validate a CNN")
        return train, valid

    # ---------------------------------------------------------------- predict

    def label_function(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """Differentiable ``flux (n, n_pixels) -> labels (n, n_labels)`` (member mean,
        labels' units), for saliency. Models with extra inputs are refused."""
        self._check_fitted()
        if self.extra_names_:
            raise ValueError(
                "saliency of a hybrid CNN (with --extra inputs) is not supported"
            )

        def fn(flux: torch.Tensor) -> torch.Tensor:
            n = len(self.label_names_)
            outs = [
                m.scaler.inverse(m.net.eval()(scaled_flux(m, flux), None)[:, :n])
                for m in self.members_
            ]
            return torch.stack(outs).mean(0)

        return fn

    def _predict(self, spectra: Spectra, options: CNNPredictOptions) -> LabelPrediction:
        """Member mean and standard deviation (internal uncertainty) per label; for
        ``beta_nll`` members the mixture: internal = spread of the member means,
        external = the members' mean predicted noise."""
        preds, var, features = member_outputs(
            self, spectra, min(512, options.batch_size)
        )
        if var is not None:
            mean, aleatoric, epistemic = mixture_moments(preds, var)
            internal, external = np.sqrt(epistemic), np.sqrt(aleatoric)
        else:
            mean = preds.mean(axis=0)
            internal = (
                preds.std(axis=0, ddof=1)
                if preds.shape[0] > 1
                else np.full_like(mean, np.nan)
            )
            external = np.full_like(mean, np.nan)
        signals = {}
        if preds.shape[0] > 1:
            signals["ensemble_spread"] = preds.std(axis=0)
        if var is not None:
            signals["predicted_noise"] = external
        return LabelPrediction(
            self.label_names_,
            mean,
            internal,
            external,
            ood_signals=signals,
            features=features,
        )

    # ------------------------------------------------------------ persistence
    def _save_parts(self) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        files = {
            f"member-{k:02d}.safetensors": m.state_dict()
            for k, m in enumerate(self.members_)
        }
        manifest = {
            "extra": list(self.extra_names_),
            "members": [
                {
                    "file": f"member-{k:02d}.safetensors",
                    "seed": s,
                    "best_valid_loss": loss,
                }
                for k, (s, loss) in enumerate(
                    zip(self.member_seeds_, self.member_losses_, strict=True)
                )
            ],
        }
        return manifest, files, {"members": self.history_}

    def validation_loss(self) -> float:
        """Mean best validation loss of the kept members."""
        self._check_fitted()
        return float(np.mean(self.member_losses_))

    def _summary(self) -> dict[str, str]:
        losses = ", ".join(f"{x:.4f}" for x in self.member_losses_)
        extra = ", ".join(self.extra_names_) or "none"
        return {
            "members": f"{len(self.members_)} kept of {self._config.n_members} trained",
            "validation loss": f"{losses} ({self.loss_name})",
            "extra inputs": extra,
        }

    @classmethod
    def from_manifest(
        cls, path: Path, manifest: dict[str, Any]
    ) -> DeepEnsembleRegressor:
        """Rebuild from a model directory (called by :func:`starlabel.load`)."""
        config, names = cls._manifest_basics(path, manifest)
        try:
            members_meta = manifest["members"]
        except (KeyError, TypeError) as exc:
            raise StarlabelInputError(
                f"model.json is incomplete or invalid: {exc}", path=path
            ) from exc
        est = cls(
            config,
            labels=names,
            extra=tuple(manifest.get("extra", [])),
            random_state=manifest.get("random_state", 0),
        )
        est._restore(path, manifest)
        est.extra_names_ = tuple(manifest.get("extra", []))
        dev = device_of(est.device)
        est.members_ = [
            load_state(path, meta["file"], est._build(est.wavelength_.size)).to(dev)
            for meta in members_meta
        ]
        est.member_seeds_ = [m["seed"] for m in members_meta]
        est.member_losses_ = [m["best_valid_loss"] for m in members_meta]
        return est
