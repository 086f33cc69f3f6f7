"""CNN regressor with deep-ensemble uncertainties (Ambrosch et al. 2023; Guiglion 2024).

``DeepEnsembleRegressor`` trains ``n_members`` networks with different seeds, keeps
the ``n_keep`` with the lowest validation loss, and predicts the member mean with
the member standard deviation as the internal uncertainty (``_err_int``: model
uncertainty only; the members are trained with MSE and give no noise term, so
``_err_ext`` is NaN and ``_err`` = ``_err_int``, which underestimates the error of a
noisy spectrum).

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._config import DictConfig
from ..errors import StarlabelInputError
from ..nn import BandedConvRegressor, ConvRegressor, Standardizer
from ..spectra.container import Spectra
from ..spectra.preprocess import SPEED_OF_LIGHT_KMS, dense_flux
from ..training import TrainConfig
from ..training.augment import augment_batch, check_augment
from ..training.losses import masked_beta_nll, masked_mse
from ._shared import (
    SpectralModel,
    device_of,
    fit_flux_scaler,
    load_state,
    noise_tensors,
    scaled_flux,
)
from .base import LabelPrediction
from .members import keep_best, member_history, train_members
from .options import TRAIN_FLAGS, PredictOptions
from .space import Choice, FloatRange, IntRange, Param

__all__ = [
    "CNNConfig",
    "CNNPredictOptions",
    "DeepEnsembleRegressor",
    "EnsembleConfig",
    "PRESETS",
    "mixture_moments",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True, slots=True)
class CNNConfig(DictConfig):
    """Sizes of the network (see :class:`ConvRegressor`); defaults = Ambrosch 2023."""

    channels: tuple[int, ...] = (8, 6, 4)
    kernel_size: int = 20
    pool: tuple[int, ...] = (2, 2, 1)
    dense: tuple[int, ...] = (64, 128, 32)
    dropout: float = 0.2
    slope: float = 0.3
    batch_norm: bool = False

    def __post_init__(self) -> None:
        if len(self.channels) != len(self.pool):
            raise ValueError("pool: one factor per convolution")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout: expected [0, 1), got {self.dropout}")


@dataclass(frozen=True, kw_only=True, slots=True)
class EnsembleConfig(DictConfig):
    """A deep ensemble of CNNs and how it is trained.

    Attributes:
        n_members: networks trained with different seeds (paper: 10).
        n_keep: members kept, lowest validation loss first (paper: 8).
        cnn: network sizes.
        train: training-loop settings (paper: SGD, lr 1e-4, batch 16, patience 30).
        valid_fraction: share of the training set held out for validation when no
            validation set is given (paper: 0.4).
        augment_noise: add Gaussian noise drawn from the inverse variance to each
            training batch.
        augment_snr_min: bring ``augment_fraction`` of each training batch down to
            a random S/N between this and the spectrum's own (log-uniform; noise
            drawn from its ivar; ``training.augment``), so that the network meets
            the noise of the faint stars it will label (0: off).
        augment_fraction: share of the training spectra degraded per batch.
        rv_jitter_kms: standard deviation of random radial-velocity shifts applied
            to training batches (0 = none).
        standardize_flux: standardise each pixel (training mean and scatter, saved
            with the weights) before the network; off in the paper's setup.
        loss: ``"mse"`` (the paper: each member predicts a value) or
            ``"beta_nll"`` (each member predicts a mean and a variance per label,
            trained with the β-weighted Gaussian NLL; the ensemble is the mixture of
            the members, so the error splits into data and model parts).
        beta: the β of ``"beta_nll"`` (0: plain Gaussian NLL; 0.5: the usual choice).
    """

    n_members: int = 10
    n_keep: int = 8
    cnn: CNNConfig = field(default_factory=CNNConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    valid_fraction: float = 0.4
    augment_noise: bool = False
    augment_snr_min: float = 0.0
    augment_fraction: float = 0.5
    rv_jitter_kms: float = 0.0
    standardize_flux: bool = False
    loss: str = "mse"
    beta: float = 0.5

    def __post_init__(self) -> None:
        if self.loss not in ("mse", "beta_nll"):
            raise ValueError(f"loss: expected 'mse' or 'beta_nll', got {self.loss!r}")
        if not 0 <= self.beta <= 1:
            raise ValueError(f"beta: expected [0, 1], got {self.beta}")
        if not 1 <= self.n_keep <= self.n_members:
            raise ValueError(
                f"n_keep: expected 1 <= n_keep <= n_members, got {self.n_keep} of {self.n_members}"
            )
        if not 0 < self.valid_fraction < 1:
            raise ValueError(
                f"valid_fraction: expected (0, 1), got {self.valid_fraction}"
            )
        check_augment(self.augment_snr_min, self.augment_fraction)


_ADAM = TrainConfig(
    optimizer="adam",
    lr=1e-3,
    batch_size=64,
    lr_schedule="plateau",
    lr_gamma=0.3,
    patience=10,
    grad_clip=10.0,
)

# Presets: the paper's network, and variants a few lines away.
PRESETS: dict[str, EnsembleConfig] = {
    # The default: the paper's network with the optimiser it reports as equivalent
    # (Adam 1e-3), batch 64 and a plateau schedule, the flux standardised per pixel
    # before the network, 5 members (all kept), S/N augmentation down to 5. On 1000 synthetic stars, 2 members
    # and 10 epochs reach a test std of 0.20 / 0.26 / 0.25 of the label scatter for
    # teff / logg / [Fe/H] in 45 s; without the standardisation the same run still
    # predicts the mean (0.71 / 0.77 / 0.66): the raw flux varies by only ~0.05
    # between stars.
    # Half of each training batch is brought down to a random S/N between 5 and its
    # own: trained on S/N >= 30 and tested at S/N 5-25, a 2-member ensemble's [Fe/H]
    # bias fell from -0.36 to +0.09 of its scatter and its std from 0.27 to 0.13 dex.
    "default": EnsembleConfig(
        n_members=5,
        n_keep=5,
        train=_ADAM,
        standardize_flux=True,
        augment_snr_min=5.0,
    ),
    # The paper exactly: SGD 1e-4, batch 16, 10 members of which 8 are kept.
    "ambrosch2023": EnsembleConfig(),
    # The paper's ensemble and network with the Adam schedule of the default.
    "ambrosch2023-adam": EnsembleConfig(train=_ADAM),
    "wide": EnsembleConfig(
        cnn=CNNConfig(
            channels=(16, 16, 8),
            kernel_size=16,
            pool=(2, 2, 2),
            dense=(128, 128, 64),
            dropout=0.1,
        ),
        train=TrainConfig(
            optimizer="adam",
            lr=1e-3,
            batch_size=32,
            lr_schedule="plateau",
            lr_gamma=0.3,
            patience=15,
            grad_clip=10.0,
        ),
    ),
    "fast": EnsembleConfig(
        cnn=CNNConfig(
            channels=(8, 8, 4),
            kernel_size=12,
            pool=(4, 2, 2),
            dense=(64, 64, 32),
            dropout=0.1,
        ),
        train=TrainConfig(
            optimizer="adam",
            lr=2e-3,
            batch_size=64,
            lr_schedule="plateau",
            lr_gamma=0.3,
            patience=10,
            grad_clip=10.0,
        ),
    ),
}


#: ``starlabel tune``: the network's sizes, dropout and the optimiser's step and batch
#: (each convolution's channels and pooling and each dense width drawn on its own).
CNN_SEARCH_SPACE: dict[str, Param] = {
    "cnn.channels": IntRange(2, 64, log=True),
    "cnn.kernel_size": IntRange(4, 64, log=True),
    "cnn.pool": IntRange(1, 4),
    "cnn.dense": IntRange(8, 256, log=True),
    "cnn.dropout": FloatRange(0.0, 0.4),
    "train.lr": FloatRange(1e-4, 1e-2, log=True),
    "train.batch_size": Choice((16, 32, 64, 128)),
}


@dataclass(frozen=True, kw_only=True, slots=True)
class CNNPredictOptions(PredictOptions):
    """Options of :meth:`DeepEnsembleRegressor.predict` (``batch_size`` only)."""


def mixture_moments(
    means: np.ndarray, variances: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and the two variance parts of an equally weighted Gaussian mixture.

    Args:
        means, variances: ``(n_members, ...)`` each member's mean and variance.

    Returns:
        ``(mean, aleatoric, epistemic)``: the mixture mean, the mean of the member
        variances (data) and the variance of the member means (model, ddof 0); the
        mixture's total variance is their sum.

    Example:
        >>> m, a, e = mixture_moments(np.array([[1.0], [3.0]]), np.array([[1.0], [1.0]]))
        >>> float(m[0]), float(a[0]), float(e[0])
        (2.0, 1.0, 1.0)
    """
    means = np.asarray(means, dtype=np.float64)
    mean = means.mean(axis=0)
    return mean, np.asarray(variances, dtype=np.float64).mean(axis=0), means.var(axis=0)


def _jitter_shift(wavelength: torch.Tensor) -> torch.Tensor:
    """Pixels per km/s at each pixel (for small Doppler shifts on any grid)."""
    step = torch.diff(wavelength)
    step = torch.cat([step, step[-1:]])
    return wavelength / SPEED_OF_LIGHT_KMS / step


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
        >>> from starlabel.synth.population import sample_population
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

    def _extras(self, spectra: Spectra) -> np.ndarray:
        missing = [n for n in self.extra_names_ if n not in spectra.extra]
        if missing:
            raise StarlabelInputError(
                f"the model needs extra inputs {missing}; the data has {sorted(spectra.extra)}"
            )
        if not self.extra_names_:
            return np.zeros((spectra.n_spectra, 0), dtype=np.float32)
        return np.stack([spectra.extra[n] for n in self.extra_names_], axis=1).astype(
            np.float32
        )

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
        validation = valid
        if validation is None:
            if train.n_spectra < 2:
                raise ValueError(
                    f"train: {train.n_spectra} spectrum; a CNN needs at least 2 "
                    "(one to train on, one to validate)"
                )
            train, validation = train.split(
                (1 - cfg.valid_fraction, cfg.valid_fraction), seed=self.random_state
            )
        if train.n_spectra < 1 or validation.n_spectra < 1:
            raise ValueError("train: too few spectra to train and validate a CNN")
        self._check_sizes(train, validation)
        if cfg.n_keep == 1 and cfg.loss == "mse":
            self._warn(
                "a 1-member ensemble has no spread: its catalogues' _err_raw and "
                "_err_int are NaN, and _err is only the calibration's floor and S/N "
                "terms, not a per-star model uncertainty (train with --ensemble 2 "
                "or more)"
            )
        if validation.n_pixels != train.n_pixels or not np.allclose(
            validation.wavelength_aa, train.wavelength_aa
        ):
            raise ValueError(
                "validation: its wavelength grid differs from the training set's"
            )
        self.wavelength_ = train.wavelength_aa.copy()
        self.medium_ = train.medium
        dev = device_of(self.device)

        def tensors(sp: Spectra) -> list[torch.Tensor]:
            flux, _ = dense_flux(sp)
            y = sp.label_array(names)
            mask = np.isfinite(y)
            sigma, snr = noise_tensors(sp, dev)
            return [
                torch.as_tensor(flux, device=dev),
                torch.as_tensor(self._extras(sp), device=dev),
                torch.as_tensor(
                    np.where(mask, y, 0.0), dtype=torch.float32, device=dev
                ),
                torch.as_tensor(mask, device=dev),
                sigma,
                snr,
            ]

        tr, va = tensors(train), tensors(validation)
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
            self._loss_fn(cfg, per_px),
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

    def _loss_fn(self, cfg: EnsembleConfig, per_px: torch.Tensor) -> Callable:
        jitter = cfg.rv_jitter_kms

        def loss(module: torch.nn.Module, batch: Sequence[torch.Tensor]):
            flux, extra, y, mask, sigma, snr = batch
            if module.training:
                flux = augment_batch(cfg, flux, sigma, snr)
                if cfg.augment_noise:
                    flux = flux + torch.randn_like(flux) * sigma
                if jitter > 0:
                    flux = _shift(
                        flux,
                        torch.randn(flux.shape[0], 1, device=flux.device)
                        * jitter
                        * per_px,
                    )
            pred = module.net(
                scaled_flux(module, flux), extra if extra.shape[1] else None
            )
            if cfg.loss == "beta_nll":
                n = y.shape[1]
                log_var = pred[:, n:].clamp(-30.0, 30.0)
                # beta shapes the training gradients only; validation (early
                # stopping, member selection) scores the proper Gaussian NLL
                beta = cfg.beta if module.training else 0.0
                return masked_beta_nll(
                    pred[:, :n], log_var, module.scaler(y), mask, beta=beta
                )
            return masked_mse(pred, module.scaler(y), mask)

        return loss

    # ---------------------------------------------------------------- predict
    def predict_members(self, spectra: Spectra, *, batch_size: int = 512) -> np.ndarray:
        """``(n_members, n_spectra, n_labels)`` predictions (means) of every kept
        member, in the labels' units."""
        return self._member_outputs(spectra, batch_size)[0]

    def _member_outputs(
        self, spectra: Spectra, batch_size: int
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """Every kept member's means and, for ``beta_nll`` members, variances
        ``(n_members, n_spectra, n_labels)`` in the labels' units (squared), and the
        first member's last hidden activations ``(n_spectra, dense[-1])``."""
        self._check_fitted()
        self.check_grid(spectra)
        flux, dead = dense_flux(spectra)
        extra = self._extras(spectra)
        dev = next(self.members_[0].parameters()).device
        n_lab = len(self.label_names_)
        shape = (len(self.members_), spectra.n_spectra, n_lab)
        out = np.empty(shape, dtype=np.float64)
        var = (
            np.empty(shape, dtype=np.float64)
            if self._config.loss == "beta_nll"
            else None
        )
        nets = [self._inference_net(module, dev) for module in self.members_]
        features = np.empty((spectra.n_spectra, self._config.cnn.dense[-1]))
        with torch.inference_mode():
            for start in range(0, spectra.n_spectra, batch_size):
                sl = slice(start, start + batch_size)
                x = torch.as_tensor(flux[sl], device=dev)
                e = torch.as_tensor(extra[sl], device=dev) if extra.shape[1] else None
                for m, (module, net) in enumerate(
                    zip(self.members_, nets, strict=True)
                ):
                    if m == 0:  # the first member's features, for the OOD score
                        y, h = _with_features(net, scaled_flux(module, x), e)
                        features[sl] = h.double().cpu().numpy()
                    else:
                        y = net(scaled_flux(module, x), e)
                    y = y.double()
                    out[m, sl] = module.scaler.inverse(y[:, :n_lab]).cpu().numpy()
                    if var is not None:
                        scale = module.scaler.scale.double() ** 2
                        log_var = y[:, n_lab:].clamp(-30.0, 30.0)
                        var[m, sl] = (torch.exp(log_var) * scale).cpu().numpy()
        out[:, dead] = np.nan
        features[dead] = np.nan
        if var is not None:
            var[:, dead] = np.nan
        return out, var, features

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

    def _inference_net(self, module: torch.nn.Module, dev: torch.device) -> Any:
        """The member's network for prediction: on CPU its banded-matrix twin (faster)."""
        if dev.type != "cpu":
            return module.net
        return BandedConvRegressor(module.net.eval())

    def _predict(self, spectra: Spectra, options: CNNPredictOptions) -> LabelPrediction:
        """Member mean and standard deviation (internal uncertainty) per label; for
        ``beta_nll`` members the mixture: internal = spread of the member means,
        external = the members' mean predicted noise."""
        preds, var, features = self._member_outputs(
            spectra, min(512, options.batch_size)
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


def _with_features(
    net: Any, flux: torch.Tensor, extra: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Outputs and last hidden activations of a member's network (either twin)."""
    if isinstance(net, BandedConvRegressor):
        return net(flux, extra, with_features=True)
    return net.forward_with_features(flux, extra)


def _shift(flux: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
    """Shift each spectrum by a (small, per-pixel varying) fractional number of pixels."""
    frac = pixels.clamp(-1.0, 1.0)
    right = torch.roll(flux, shifts=1, dims=1)  # f[i-1]: redshift moves features right
    left = torch.roll(flux, shifts=-1, dims=1)
    return torch.where(
        frac >= 0, flux * (1 - frac) + right * frac, flux * (1 + frac) - left * frac
    )
