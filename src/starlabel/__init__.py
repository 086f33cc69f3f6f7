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

__all__ = [
    "__version__",
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
