"""Readers for survey formats and the dataset file."""

from .catalogue import LabelCatalogue, read_catalogue
from .hdf5 import (
    DatasetReader,
    DatasetWriter,
    dataset_fingerprint,
    iter_dataset,
    read_dataset,
    split_dataset,
    write_dataset,
)
from .registry import (
    READERS,
    Rejected,
    expand_paths,
    iter_raw,
    read_raw,
    register_reader,
)

__all__ = [
    "LabelCatalogue",
    "read_catalogue",
    "DatasetReader",
    "DatasetWriter",
    "dataset_fingerprint",
    "iter_dataset",
    "read_dataset",
    "split_dataset",
    "write_dataset",
    "READERS",
    "Rejected",
    "expand_paths",
    "iter_raw",
    "read_raw",
    "register_reader",
]
