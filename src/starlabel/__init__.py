"""starlabel: stellar labels from spectra with neural networks and honest uncertainties."""

from importlib.metadata import PackageNotFoundError, version

from .spectra import (
    Flag,
    Grid,
    LabelSpec,
    PrepareConfig,
    Spectra,
    named_grid,
    prepare_files,
    read_catalogue,
    read_dataset,
    read_raw,
    write_dataset,
)

try:
    __version__ = version("starlabel")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"

# The estimators import torch: loaded on first use, so that `import starlabel` and
# the command line's --help stay fast.
_LAZY = {
    "load": "starlabel.models",
    "build_estimator": "starlabel.models",
    "LabelPrediction": "starlabel.models",
    "DeepEnsembleRegressor": "starlabel.models",
    "ConditionalINNRegressor": "starlabel.models",
    "LatentAutoencoder": "starlabel.models",
    "predict_file": "starlabel.inference",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'starlabel' has no attribute {name!r}")


__all__ = [
    "__version__",
    "ConditionalINNRegressor",
    "DeepEnsembleRegressor",
    "LabelPrediction",
    "LatentAutoencoder",
    "build_estimator",
    "load",
    "predict_file",
    "Flag",
    "Grid",
    "LabelSpec",
    "PrepareConfig",
    "Spectra",
    "named_grid",
    "prepare_files",
    "read_catalogue",
    "read_dataset",
    "read_raw",
    "write_dataset",
]
