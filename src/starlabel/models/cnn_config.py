"""The CNN deep ensemble's settings: network and ensemble configs, presets (the
default, the paper's and others), the tune search space and the predict options."""

from __future__ import annotations

from dataclasses import dataclass, field

from .._config import DictConfig
from ..training import TrainConfig
from ..training.augment import check_augment
from .options import PredictOptions
from .space import Choice, FloatRange, IntRange, Param


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
        censor: each abundance's output sees only the windows around its own
            element's lines and the Fe lines (``models.censor``; Leung & Bovy 2019),
            through a dense branch of its own; Teff, log g and [Fe/H] see every
            pixel. Against reading one element from another's lines.
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
    censor: bool = False

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
