"""The layout of the dataset file: format name, version, groups, attribute coding."""

from __future__ import annotations

import json
from typing import Any

import h5py
import numpy as np

__all__ = [
    "FORMAT",
    "VERSION",
    "ROW_GROUPS",
    "LABEL_GROUPS",
    "RESERVED_ATTRS",
    "STR",
    "chunk_rows",
    "attr_value",
    "read_attr",
    "is_text",
]

FORMAT = "starlabel-spectra"
VERSION = 1
ROW_GROUPS = ("labels", "labels_err", "labels_crlb", "extra", "meta")
LABEL_GROUPS = ("labels", "labels_err", "labels_crlb")
RESERVED_ATTRS = {
    "format",
    "version",
    "wavelength_unit",
    "medium",
    "rest_frame",
    "setup",
    "split_group",
    "split_files",
}
STR = h5py.string_dtype("utf-8")


def chunk_rows(n_pixels: int) -> int:
    """Rows per chunk of ``/flux`` and ``/ivar``."""
    # About 1 MiB of float32 per chunk: small enough to stream, large enough to be fast.
    return max(1, min(4096, (1 << 20) // max(1, 4 * n_pixels)))


def attr_value(value: Any) -> Any:
    """A file attribute for ``value``: containers are stored as ``json:...`` text."""
    if isinstance(value, (dict, list, tuple)):
        return "json:" + json.dumps(value)
    return value


def read_attr(value: Any) -> Any:
    """The Python value of a file attribute (the inverse of :func:`attr_value`)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    if isinstance(value, str) and value.startswith("json:"):
        return json.loads(value[5:])
    if isinstance(value, np.generic):
        return value.item()
    return value


def is_text(ds: h5py.Dataset) -> bool:
    """Whether a column holds text (variable-length or fixed strings)."""
    return ds.dtype.kind in "OSU" or h5py.check_string_dtype(ds.dtype) is not None
