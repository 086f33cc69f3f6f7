"""The data model and everything up to a training-ready array."""

from .container import Spectra
from .flags import Flag, describe_flags
from .grids import NAMED_GRIDS, Grid, named_grid
from .io import (
    DatasetReader,
    DatasetWriter,
    LabelCatalogue,
    dataset_fingerprint,
    iter_dataset,
    iter_raw,
    read_catalogue,
    read_dataset,
    read_raw,
    write_dataset,
)
from .labels import LabelSpec, label_spec, solar_abundance
from .prepare import PrepareConfig, PrepareReport, prepare_files, prepare_spectra
from .preprocess import dense_flux
from .raw import RawSpectrum
from .snr import der_snr

__all__ = [
    "Spectra",
    "der_snr",
    "Flag",
    "describe_flags",
    "NAMED_GRIDS",
    "Grid",
    "named_grid",
    "DatasetReader",
    "DatasetWriter",
    "LabelCatalogue",
    "dataset_fingerprint",
    "iter_dataset",
    "iter_raw",
    "read_catalogue",
    "read_dataset",
    "read_raw",
    "write_dataset",
    "LabelSpec",
    "label_spec",
    "solar_abundance",
    "PrepareConfig",
    "PrepareReport",
    "prepare_files",
    "prepare_spectra",
    "dense_flux",
    "RawSpectrum",
]
