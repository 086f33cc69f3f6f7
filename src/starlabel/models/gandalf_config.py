"""The disentangling autoencoder's settings (Santoveña et al. 2025): config, presets,
the tune search space, the predict options, and the edited-spectrum result."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._config import DictConfig
from .options import PredictOptions
from .space import FloatRange, IntRange, Param


@dataclass(frozen=True, kw_only=True, slots=True)
class GandalfConfig(DictConfig):
    """Sizes and training of the disentangling autoencoder (defaults: the paper).

    Attributes:
        latent: size of z (paper: 25).
        encoder, decoder: hidden widths (paper: 512, 256 and 256, 512).
        discriminator: hidden widths of each discriminator (paper: 64, 32).
        n_bins: equal-width label bins the discriminators classify (paper: 10).
        disentangle: labels removed from z (lambda = +strength).
        entangle: labels reinforced in z (lambda = -strength).
        strength: |lambda| of every conditioned label.
        adversary: how the encoder fights a disentangled label's discriminator:
            ``"paper"`` maximises its cross-entropy (the paper's loss, which the
            encoder can also satisfy by making it confidently wrong, keeping the
            information); ``"uniform"`` pushes its prediction to the uniform
            distribution (cross-entropy to uniform; a confusion loss), which can only
            be met by removing the information. Entangling is the same in both.
        encoder_labels: labels also enter the encoder (paper Fig. 1, synthetic sets;
            ``predict`` then needs them). Default: decoder only (Fig. 6).
        max_epochs, batch_size, lr, weight_decay: Adam on both players.
        lambda_ramp_epochs: epochs over which lambda rises linearly from 0.
        regressor: hidden widths of the latent regressor (paper: 200, 100).
        regressor_max_iter: its maximum Adam epochs (early stopping inside).
        n_regressors: latent regressors, each fitted on a bootstrap sample of the
            training stars (1: the paper's single regressor); their spread is the
            per-star model part of the error (``_err_int``).
        valid_fraction: held-out share when no validation set is given.
    """

    latent: int = 25
    encoder: tuple[int, ...] = (512, 256)
    decoder: tuple[int, ...] = (256, 512)
    discriminator: tuple[int, ...] = (64, 32)
    n_bins: int = 10
    disentangle: tuple[str, ...] = ()
    entangle: tuple[str, ...] = ()
    strength: float = 0.1
    adversary: str = "paper"
    encoder_labels: bool = False
    max_epochs: int = 60
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    lambda_ramp_epochs: int = 5
    regressor: tuple[int, ...] = (200, 100)
    regressor_max_iter: int = 200
    n_regressors: int = 5
    valid_fraction: float = 0.2

    def __post_init__(self) -> None:
        both = set(self.disentangle) & set(self.entangle)
        if both:
            raise ValueError(f"labels both disentangled and entangled: {sorted(both)}")
        if self.n_regressors < 1:
            raise ValueError(f"n_regressors: expected >= 1, got {self.n_regressors}")
        if self.n_bins < 2 or self.latent < 1:
            raise ValueError("n_bins >= 2 and latent >= 1 expected")
        if self.adversary not in ("paper", "uniform"):
            raise ValueError(
                f"adversary: expected 'paper' or 'uniform', got {self.adversary!r}"
            )
        if self.strength < 0:
            raise ValueError(
                f"strength: expected >= 0 (the sign comes from disentangle/entangle), got {self.strength}"
            )

    @property
    def lambdas(self) -> dict[str, float]:
        """Label -> lambda (positive: disentangle, negative: entangle)."""
        return {n: self.strength for n in self.disentangle} | {
            n: -self.strength for n in self.entangle
        }


GANDALF_PRESETS: dict[str, GandalfConfig] = {
    # The paper's sizes and schedule (60 epochs).
    "santovena2025": GandalfConfig(),
    # Smaller encoder and decoder, 30 epochs.
    "fast": GandalfConfig(encoder=(256, 128), decoder=(128, 256), max_epochs=30),
}


#: ``starlabel tune``: latent size, widths, the strength lambda of the conditioned
#: labels and the learning rate.
GANDALF_SEARCH_SPACE: dict[str, Param] = {
    "latent": IntRange(4, 64, log=True),
    "encoder": IntRange(32, 1024, log=True),
    "decoder": IntRange(32, 1024, log=True),
    "strength": FloatRange(0.01, 1.0, log=True),
    "lr": FloatRange(1e-4, 1e-2, log=True),
}


@dataclass(frozen=True)
class EditedSpectrum:
    """A star's spectrum, its reconstruction and its regeneration with new labels.

    Attributes:
        star_id: the star's ``id``.
        wavelength: ``(n_pixels,)`` Angstrom.
        original, reconstruction, edited: ``(n_pixels,)`` normalised flux.
        labels: the labels given to the decoder for the reconstruction.
        edited_labels: the same with the requested changes.
    """

    star_id: str
    wavelength: np.ndarray
    original: np.ndarray
    reconstruction: np.ndarray
    edited: np.ndarray
    labels: dict[str, float]
    edited_labels: dict[str, float]

    @property
    def largest_change(self) -> float:
        """Largest |edited - reconstruction| over the pixels (normalised flux)."""
        return float(np.max(np.abs(self.edited - self.reconstruction)))


@dataclass(frozen=True, kw_only=True, slots=True)
class GandalfPredictOptions(PredictOptions):
    """Options of :meth:`LatentAutoencoder.predict` (``batch_size`` only)."""
