"""The estimators: CNN deep ensemble, cINN, disentangling autoencoder, spectrum
emulator (labels -> flux, with the per-star fit of labels).

All follow one protocol (see :mod:`starlabel.models.base`) and are built on one
base, :class:`SpectralModel` (its fit template in :mod:`starlabel.models.fitting`,
its model directory in :mod:`starlabel.models.directory`); :func:`load` reads any
model directory and :data:`MODELS` maps each ``--model`` kind to its class.
"""

from ._shared import SpectralModel, check_trainable
from .base import (
    EditingEstimator,
    EmulatingEstimator,
    Estimator,
    LabelPrediction,
    NotFittedError,
    PosteriorEstimator,
    SaliencyEstimator,
)
from .cinn import ConditionalINNRegressor
from .cinn_config import CINN_PRESETS, CINNConfig, CINNPredictOptions
from .cnn import DeepEnsembleRegressor
from .cnn_config import PRESETS, CNNConfig, CNNPredictOptions, EnsembleConfig
from .emulator import SpectrumEmulator
from .emulator_config import EMULATOR_PRESETS, EmulatorConfig, EmulatorPredictOptions
from .gandalf import LatentAutoencoder
from .gandalf_config import (
    GANDALF_PRESETS,
    EditedSpectrum,
    GandalfConfig,
    GandalfPredictOptions,
)
from .options import PredictOptions
from .persist import check_model_target
from .registry import MODELS, load, model_class
from .runs import build_estimator, read_run_config

__all__ = [
    "CINN_PRESETS",
    "CINNConfig",
    "CINNPredictOptions",
    "CNNConfig",
    "CNNPredictOptions",
    "ConditionalINNRegressor",
    "DeepEnsembleRegressor",
    "EditedSpectrum",
    "EditingEstimator",
    "EmulatingEstimator",
    "EMULATOR_PRESETS",
    "EmulatorConfig",
    "EmulatorPredictOptions",
    "EnsembleConfig",
    "Estimator",
    "GANDALF_PRESETS",
    "GandalfConfig",
    "GandalfPredictOptions",
    "LabelPrediction",
    "LatentAutoencoder",
    "MODELS",
    "NotFittedError",
    "PRESETS",
    "PosteriorEstimator",
    "PredictOptions",
    "SaliencyEstimator",
    "SpectralModel",
    "build_estimator",
    "check_model_target",
    "check_trainable",
    "load",
    "model_class",
    "read_run_config",
    "SpectrumEmulator",
]
