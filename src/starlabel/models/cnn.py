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

from ..nn.cnn_network import CNNNetwork
from ..spectra.container import Spectra
from ._shared import (
    SpectralModel,
)
from .base import LabelPrediction
from .censor import censored_element, censoring_masks
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
from .options import TRAIN_FLAGS
from .persist import load_tensors

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
    title = "deep ensemble of 1D CNNs (labels with the members' spread)"
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
        "censor": "censor",
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
    def _censor_index(self) -> dict[int, torch.Tensor]:
        """Label index -> the pixels a censored label sees (``config.censor``)."""
        if not self._config.censor:
            return {}
        masks = censoring_masks(
            self.wavelength_, self.label_names_, medium=self.medium_
        )
        return {
            j: torch.as_tensor(np.flatnonzero(masks[n]))
            for j, n in enumerate(self.label_names_)
            if censored_element(n) is not None
        }

    def _build(
        self, n_pixels: int, censor: dict[int, torch.Tensor] | None = None
    ) -> CNNNetwork:
        c = self._config.cnn
        n = len(self.label_names_)
        return CNNNetwork(
            n_pixels,
            n,
            n * (2 if self._config.loss == "beta_nll" else 1),
            standardize_flux=self._config.standardize_flux,
            channels=c.channels,
            kernel_size=c.kernel_size,
            pool=c.pool,
            dense=c.dense,
            dropout=c.dropout,
            slope=c.slope,
            n_extra=len(self.extra_names_),
            batch_norm=c.batch_norm,
            censor=self._censor_index() if censor is None else censor,
        )

    # -------------------------------------------------------- fit hooks
    def _n_members(self) -> tuple[int, int]:
        return self._config.n_members, self._config.n_keep

    def _fit_sets(
        self, train: Spectra, valid: Spectra | None, names: Sequence[str]
    ) -> tuple[Spectra, Spectra]:
        """``valid``, or ``valid_fraction`` of ``train`` (random, seeded); stars
        with incomplete labels stay (their missing labels are masked in the loss)."""
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

    def _before_training(self, train: Spectra, validation: Spectra) -> None:
        self.extra_names_ = tuple(self.extra)
        cfg = self._config
        if cfg.n_keep == 1 and cfg.loss == "mse":
            self._warn(
                "a 1-member ensemble has no spread: its catalogues' _err_raw and "
                "_err_int are NaN, and _err is only the calibration's floor and S/N "
                "terms, not a per-star model uncertainty (train with --ensemble 2 "
                "or more)"
            )
        names = self.label_names_
        known = np.isfinite(train.label_array(names)).sum(0)
        if (known == 0).any():
            empty = [n for n, k in zip(names, known.tolist(), strict=True) if k == 0]
            raise ValueError(f"train: no star has a value for {empty}")

    def _batch_tensors(
        self, spectra: Spectra, names: Sequence[str], device: torch.device
    ) -> list[torch.Tensor]:
        return list(batch_tensors(spectra, names, self.extra_names_, device))

    def _new_network(
        self,
        seed: int,
        train: Sequence[torch.Tensor],
        n_pixels: int,
        device: torch.device,
    ) -> CNNNetwork:
        module = self._build(n_pixels).to(device)
        known = torch.where(train[3], train[2], torch.full_like(train[2], float("nan")))
        module.fit_scalers(known, train[0])
        return module

    def _member_loss(self, device: torch.device) -> Callable:
        wl = torch.as_tensor(self.wavelength_, dtype=torch.float32, device=device)
        return member_loss(self._config, _jitter_shift(wl))

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
                m.label_scaler.inverse(m.eval()(flux)[:, :n]) for m in self.members_
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
    def _state_parts(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return {"extra": list(self.extra_names_)}, {}

    @classmethod
    def _init_args(cls, manifest: dict[str, Any]) -> dict[str, Any]:
        return {"extra": tuple(manifest.get("extra", []))}

    def _empty_network(self, seed: int, path: Path, file: str) -> CNNNetwork:
        self.extra_names_ = tuple(self.extra)
        censor = {}
        if self._config.censor:  # the pixels it was trained with, from its file
            saved = load_tensors(path, file)
            for k, j in enumerate(
                i for i, n in enumerate(self.label_names_) if censored_element(n)
            ):
                censor[j] = saved[f"censor_index_{k}"]
        return self._build(self.wavelength_.size, censor)

    def _restore_state(self, path: Path, manifest: dict[str, Any]) -> None:
        self.extra_names_ = tuple(self.extra)

    def _summary(self) -> dict[str, str]:
        losses = ", ".join(f"{x:.4f}" for x in self.member_losses_)
        extra = ", ".join(self.extra_names_) or "none"
        return {
            "members": f"{len(self.members_)} kept of {self._config.n_members} trained",
            "validation loss": f"{losses} ({self.loss_name})",
            "extra inputs": extra,
        }
