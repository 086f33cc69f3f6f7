"""The cINN's settings: network and training config (Candebat et al. 2024), presets,
the tune search space, the predict options (Fast and Precision modes)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from .._config import DictConfig
from ..training import TrainConfig
from ..training.augment import check_augment
from .options import PredictOptions
from .space import FloatRange, IntRange, Param

PAPER_TRAINING = TrainConfig(
    optimizer="adam",
    lr=1e-3,
    batch_size=32,
    weight_decay=1e-5,
    lr_schedule="step",
    lr_step_epochs=(50,),
    lr_gamma=0.1,
    max_epochs=60,
    patience=60,
    grad_clip=10.0,
)


@dataclass(frozen=True, kw_only=True, slots=True)
class CINNConfig(DictConfig):
    """Sizes and training of the cINN; defaults follow Candebat et al. 2024.

    Attributes:
        cond_dims: condition width of each coupling block (paper: 4 blocks; the
            feature counts 256, 32, 256, 32).
        channels, kernel_size, pool: the conditioning CNN, one entry per block.
        stage_hidden: first dense width of each intermediate conditioning stage.
        dense: hidden dense widths before the last block's condition.
        dropout: dropout in the conditioning network's dense stack.
        hidden, depth: subnetwork width and number of hidden layers (paper: 512, 2).
        clamp: soft clamp of the coupling exponents (paper: 1.9).
        init_std: initial weight standard deviation (paper: 0.01).
        label_noise: Gaussian noise added to standardised labels in training (0.05).
        standardize_flux: standardise each pixel (training mean and scatter) before
            the conditioning network. Off in the paper's setup; on in the default
            preset, where it is what lets the network learn in a few epochs: on
            1000 synthetic stars, 10 epochs give a test std of 0.21 / 0.23 / 0.19 of
            the label scatter (teff / logg / [Fe/H]) with it and 1.02 / 1.01 / 1.01
            (the mean) without.
        augment_snr_min: bring ``augment_fraction`` of each training batch down to
            a random S/N between this and the spectrum's own (``training.augment``;
            0: off).
        augment_fraction: share of the training spectra degraded per batch.
        n_members: models trained with different seeds; the lowest validation loss is
            kept (paper: 5).
        valid_fraction: held-out share for early stopping when no validation set.
        train: the training loop (paper: Adam 1e-3 -> 1e-4 at epoch 50 of 60, batch
            32, weight decay 1e-5, gradient-norm clip 10).
    """

    cond_dims: tuple[int, ...] = (256, 32, 256, 32)
    channels: tuple[int, ...] = (8, 8, 8, 8)
    kernel_size: int = 16
    pool: tuple[int, ...] = (4, 2, 2, 2)
    stage_hidden: int = 128
    dense: tuple[int, ...] = (256, 128)
    dropout: float = 0.1
    hidden: int = 512
    depth: int = 2
    clamp: float = 1.9
    init_std: float = 0.01
    label_noise: float = 0.05
    standardize_flux: bool = False
    augment_snr_min: float = 0.0
    augment_fraction: float = 0.5
    n_members: int = 1
    valid_fraction: float = 0.2
    train: TrainConfig = field(default_factory=lambda: PAPER_TRAINING)

    def __post_init__(self) -> None:
        n = len(self.cond_dims)
        if len(self.channels) != n or len(self.pool) != n:
            raise ValueError(
                f"channels, pool: one entry per coupling block ({n}), "
                f"got {len(self.channels)} and {len(self.pool)}"
            )
        if self.n_members < 1:
            raise ValueError(f"n_members: expected >= 1, got {self.n_members}")
        check_augment(self.augment_snr_min, self.augment_fraction)


_FAST = CINNConfig(
    cond_dims=(64, 32, 64, 32),
    hidden=256,
    train=replace(
        PAPER_TRAINING,
        lr_schedule="plateau",
        lr_gamma=0.3,
        max_epochs=100,
        patience=10,
    ),
)


CINN_PRESETS: dict[str, CINNConfig] = {
    # The default: the fast preset with the flux standardised per pixel (learns on
    # ~1000 stars in ~10 epochs, see the README) and half of each batch brought down
    # to a random S/N between 5 and its own (unbiased on faint stars).
    "default": replace(_FAST, standardize_flux=True, augment_snr_min=5.0),
    # The paper: 5 seeds, the best kept; Adam 1e-3 -> 1e-4 at epoch 50 of 60.
    "candebat2024": CINNConfig(n_members=5),
    # One model, smaller subnetworks, early stopping.
    "fast": _FAST,
}


#: ``starlabel tune``: the conditioning network's space of Candebat et al. 2024
#: (Optuna TPE over 100 models): output channels 2^2-2^8 and max-pool 1-4 per block,
#: kernel 2^2-2^8, dense widths 2^2-2^8; and the learning rate. (The paper's stride
#: 1-2 has no counterpart: our conditioning convolutions have stride 1.)
CINN_SEARCH_SPACE: dict[str, Param] = {
    "channels": IntRange(4, 256, log=True),
    "kernel_size": IntRange(4, 256, log=True),
    "pool": IntRange(1, 4),
    "dense": IntRange(4, 256, log=True),
    "train.lr": FloatRange(1e-4, 3e-3, log=True),
}


#: precision-mode totals (``CINNPredictOptions.total``) and what each is.
TOTALS = {
    "posterior": "the internal part alone: the posterior width of the spectrum as "
    "observed, which already contains its noise",
    "pooled": "half-width (p84 - p16) / 2 of the draws of all noisy copies pooled "
    "(counts the noise twice)",
    "paper": "quadrature sum of _err_int and _err_ext, Candebat et al. 2024 "
    "(counts the noise twice)",
}


@dataclass(frozen=True, kw_only=True, slots=True)
class CINNPredictOptions(PredictOptions):
    """Options of :meth:`ConditionalINNRegressor.predict`.

    Attributes:
        batch_size: spectra read at once (precision mode draws
            ``n_external x n_internal`` samples per spectrum).
        mode: ``"fast"`` or ``"precision"`` (see the module documentation).
        n_external: noisy copies per spectrum in precision mode (paper: 20).
        n_internal: latent draws per spectrum or copy (default 32 in fast mode,
            250 in precision mode; 1 = the paper's single-draw Fast mode).
        seed: seeds the latent draws and the noise, for reproducible catalogues.
        max_pairs: spectrum-latent pairs held in memory at once.
        total: what precision mode's ``_err_raw`` is: ``"posterior"`` (default:
            the internal part alone, the posterior width of the spectrum as
            observed, which already contains its noise), ``"pooled"`` (the
            half-width of all draws of all noisy copies together) or ``"paper"``
            (the quadrature sum of internal and external, Candebat et al. 2024).
            The last two count the noise twice: a noisy copy carries the
            observed noise plus the added one.
    """

    batch_size: int = 256
    mode: Literal["fast", "precision"] = "fast"
    n_external: int = 20
    n_internal: int | None = None
    seed: int = 0
    max_pairs: int = 400_000
    total: Literal["posterior", "pooled", "paper"] = "posterior"

    def __post_init__(self) -> None:
        PredictOptions.__post_init__(self)
        if self.mode not in ("fast", "precision"):
            raise ValueError(f"mode: expected 'fast' or 'precision', got {self.mode!r}")
        if self.total not in TOTALS:
            raise ValueError(
                f"total: expected one of {', '.join(TOTALS)}, got {self.total!r}"
            )
        for name in ("n_external", "n_internal", "max_pairs"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name}: expected an integer >= 1, got {value!r}")

    @property
    def draws(self) -> int:
        """Latent draws per spectrum or copy."""
        return self.n_internal or (32 if self.mode == "fast" else 250)

    @property
    def copies(self) -> int:
        """Noisy copies per spectrum (1 in fast mode)."""
        return self.n_external if self.mode == "precision" else 1
