"""The estimators: CNN deep ensemble, cINN, disentangling autoencoder."""

from .base import LabelPrediction, NotFittedError
from .cnn import PRESETS, CNNConfig, DeepEnsembleRegressor, EnsembleConfig
from .gandalf import GANDALF_PRESETS, GandalfConfig, LatentAutoencoder
from .persist import load

__all__ = [
    "LabelPrediction",
    "NotFittedError",
    "PRESETS",
    "CNNConfig",
    "DeepEnsembleRegressor",
    "EnsembleConfig",
    "GANDALF_PRESETS",
    "GandalfConfig",
    "LatentAutoencoder",
    "load",
]
