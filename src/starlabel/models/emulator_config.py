"""The spectrum emulator's settings: config, presets, the tune search space and the
predict options (the per-star fit)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .._config import DictConfig
from ..training import TrainConfig
from .labelfit import FitSettings
from .options import PredictOptions
from .space import Choice, FloatRange, IntRange, Param


@dataclass(frozen=True, kw_only=True, slots=True)
class EmulatorConfig(DictConfig):
    """The emulator's network, its training and the per-star fit.

    Attributes:
        hidden: widths of the SiLU hidden layers (The Payne: 2 x 300).
        train: training-loop settings.
        valid_fraction: share of the training stars held out when no validation
            set is given.
        n_candidates: training label vectors kept as starting points of the fit.
        fit_max_iter: Levenberg-Marquardt steps per star at most.
        fit_tol_chi2: a step that lowers chi^2 by less than this ends the fit.
        fit_prior_width: width, in training standard deviations, of the weak
            Gaussian prior on each label (0: none).
    """

    hidden: tuple[int, ...] = (300, 300)
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            optimizer="adam",
            lr=1e-3,
            batch_size=128,
            max_epochs=150,
            patience=20,
            lr_schedule="plateau",
            lr_gamma=0.3,
        )
    )
    valid_fraction: float = 0.2
    n_candidates: int = 1024
    fit_max_iter: int = 30
    fit_tol_chi2: float = 1e-2
    fit_prior_width: float = 3.0

    def __post_init__(self) -> None:
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"hidden: expected widths >= 1, got {self.hidden}")
        if not 0 < self.valid_fraction < 1:
            raise ValueError(
                f"valid_fraction: expected (0, 1), got {self.valid_fraction}"
            )
        if self.n_candidates < 1:
            raise ValueError(f"n_candidates: expected >= 1, got {self.n_candidates}")
        if self.fit_prior_width < 0:
            raise ValueError(
                f"fit_prior_width: expected >= 0, got {self.fit_prior_width}"
            )
        self.fit_settings()  # validates the fit settings

    def fit_settings(self) -> FitSettings:
        prior = 1.0 / self.fit_prior_width**2 if self.fit_prior_width > 0 else 0.0
        return FitSettings(
            max_iter=self.fit_max_iter, tol_chi2=self.fit_tol_chi2, prior=prior
        )


#: ``starlabel tune``: the hidden widths (each layer on its own), the learning rate
#: and the batch size.
EMULATOR_SEARCH_SPACE: dict[str, Param] = {
    "hidden": IntRange(64, 1024, log=True),
    "train.lr": FloatRange(1e-4, 1e-2, log=True),
    "train.batch_size": Choice((64, 128, 256)),
}


EMULATOR_PRESETS: dict[str, EmulatorConfig] = {
    # 2 x 300 SiLU (The Payne's size), Adam with a plateau schedule.
    "default": EmulatorConfig(),
    # A smaller network for small training sets and quick runs.
    "fast": EmulatorConfig(
        hidden=(128, 128),
        train=TrainConfig(
            optimizer="adam",
            lr=2e-3,
            batch_size=64,
            max_epochs=100,
            patience=15,
            lr_schedule="plateau",
            lr_gamma=0.3,
        ),
        n_candidates=512,
    ),
}


@dataclass(frozen=True, kw_only=True, slots=True)
class EmulatorPredictOptions(PredictOptions):
    """Options of :meth:`SpectrumEmulator.predict` and :meth:`~SpectrumEmulator.refine`.

    Attributes:
        fit_batch: stars fitted together (memory ~ fit_batch x pixels x labels).
    """

    fit_batch: int = 256

    def __post_init__(self) -> None:
        PredictOptions.__post_init__(self)
        if not isinstance(self.fit_batch, int) or self.fit_batch < 1:
            raise ValueError(
                f"fit_batch: expected an integer >= 1, got {self.fit_batch!r}"
            )
