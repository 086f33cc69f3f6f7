"""The estimators: CNN deep ensemble (later: cINN, disentangling autoencoder)."""

from .base import LabelPrediction, NotFittedError
from .cnn import PRESETS, CNNConfig, DeepEnsembleRegressor, EnsembleConfig
from .persist import load

__all__ = [
    "LabelPrediction",
    "NotFittedError",
    "PRESETS",
    "CNNConfig",
    "DeepEnsembleRegressor",
    "EnsembleConfig",
    "load",
]
