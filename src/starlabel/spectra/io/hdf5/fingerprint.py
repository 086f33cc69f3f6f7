"""A cheap identity of a dataset file's content (not a checksum)."""

from __future__ import annotations

import hashlib

import numpy as np

from ...._typing import PathLike
from .layout import FORMAT, VERSION
from .reader import DatasetReader

__all__ = ["dataset_fingerprint"]


def dataset_fingerprint(source: PathLike | DatasetReader) -> str:
    """A cheap identity of a dataset file's content: ``"sha256:<hex>"``.

    Hashes the format version, the shape, the wavelength grid, every id (in order)
    and the flux and ivar of the first and last rows, so it is fast for 10^6
    spectra (the ids are read in chunks) and changes when spectra are added,
    removed, reordered or renamed, or the grid changes. It does not see a change of
    flux inside the file; it identifies a file, it is no checksum.

    Args:
        source: a dataset file or an open :class:`DatasetReader`.
    """
    if not isinstance(source, DatasetReader):
        with DatasetReader(source) as reader:
            return dataset_fingerprint(reader)
    n, p = len(source), source.n_pixels
    h = hashlib.sha256()
    h.update(f"{FORMAT}/{VERSION}/{n}x{p}\n".encode())
    h.update(np.ascontiguousarray(source.wavelength_aa, dtype="<f8").tobytes())
    # ids read 8192 at a time: memory stays bounded
    for chunk in source.iter_id_chunks(1 << 13):
        h.update("\0".join(str(v) for v in chunk).encode("utf-8") + b"\0")
    for row in sorted({0, n - 1}) if n else []:
        for values in source.stored_pixels(row):
            h.update(np.ascontiguousarray(values, dtype="<f4").tobytes())
    return "sha256:" + h.hexdigest()
