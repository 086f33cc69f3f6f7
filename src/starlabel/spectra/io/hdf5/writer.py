"""Writing the dataset file: batch by batch, atomically."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ...._atomic import DATASET_SUFFIXES, AtomicFile, check_output
from ...._typing import PathLike
from ...container import Spectra
from .layout import (
    FORMAT,
    LABEL_GROUPS,
    RESERVED_ATTRS,
    ROW_GROUPS,
    STR,
    VERSION,
    attr_value,
    chunk_rows,
)

__all__ = ["DatasetWriter", "write_batches", "write_dataset"]


class DatasetWriter:
    """Write a dataset file batch by batch; the file appears only on ``close()``.

    Args:
        path: output ``.h5`` / ``.hdf5`` file.
        template: a ``Spectra`` (for example the first batch) fixing the grid, the
            label, extra and meta columns, the units and the file attributes.
        overwrite: replace an existing file (else :class:`StarlabelInputError`).
        attrs: further file attributes (strings), e.g. the group of a split.

    Raises:
        StarlabelInputError: bad output path (:func:`starlabel._atomic.check_output`).

    Example:
        >>> import astropy.units as u, tempfile, os
        >>> sp = Spectra(np.ones((4, 3)), [1.0, 2.0, 3.0] * u.AA, labels={"teff": [1., 2, 3, 4]})
        >>> path = os.path.join(tempfile.mkdtemp(), "d.h5")
        >>> with DatasetWriter(path, sp) as w:
        ...     w.append(sp[:2]); w.append(sp[2:])
        >>> from starlabel.spectra.io.hdf5 import read_dataset
        >>> len(read_dataset(path))
        4
    """

    def __init__(
        self,
        path: PathLike,
        template: Spectra,
        *,
        overwrite: bool = False,
        attrs: dict[str, str] | None = None,
    ) -> None:
        self.path = check_output(path, overwrite=overwrite, suffixes=DATASET_SUFFIXES)
        self._template = template
        self._atomic = AtomicFile(self.path, overwrite=overwrite)
        self._tmp = self._atomic.tmp
        try:
            self._file = h5py.File(self._tmp, "w")
        except BaseException:
            self._atomic.discard()
            raise
        self._n = 0
        self._ids: set[str] = set()
        _create_layout(self._file, template, attrs)

    def append(self, batch: Spectra) -> None:
        """Append a batch with the template's grid and columns."""
        t = self._template
        if batch.n_pixels != t.n_pixels or not np.allclose(
            batch.wavelength_aa, t.wavelength_aa, rtol=1e-12, atol=0
        ):
            raise ValueError("batch: wavelength grid differs from the file's grid")
        for group in ROW_GROUPS:
            have, want = set(getattr(batch, group)), set(getattr(t, group))
            if have != want:
                raise ValueError(
                    f"batch: {group} columns {sorted(have)} differ from the file's {sorted(want)}"
                )
        dup = self._ids.intersection(batch.ids.tolist())
        if dup:
            raise ValueError(f"batch: ids already written: {sorted(dup)[:5]}")
        self._ids.update(batch.ids.tolist())
        n0, n1 = self._n, self._n + batch.n_spectra
        f = self._file
        for name in ("flux", "ivar"):
            f[name].resize(n1, axis=0)
            f[name][n0:n1] = getattr(batch, name)
        for group in ROW_GROUPS:
            for key, values in getattr(batch, group).items():
                ds = f[group][key]
                ds.resize(n1, axis=0)
                ds[n0:n1] = (
                    values.astype(object) if values.dtype.kind == "U" else values
                )
        self._n = n1

    def finish(self) -> None:
        """Complete the temporary file without moving it into place (see :meth:`commit`)."""
        if self._file is None:
            return
        try:
            self._file.close()
        finally:
            self._file = None

    def commit(self) -> Path:
        """Move the finished file into place."""
        self.finish()
        return self._atomic.commit()

    def close(self) -> None:
        """Finish the file and move it into place."""
        try:
            self.commit()
        except BaseException:
            self._atomic.discard()
            raise

    def abort(self) -> None:
        """Drop the partial file."""
        try:
            if self._file is not None:
                self._file.close()
        finally:
            self._file = None
            self._atomic.discard()

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_batches(
    path: PathLike, batches: Iterator[Spectra], *, overwrite: bool = False
) -> int:
    """Write batches of spectra to one dataset file (atomically).

    The first batch fixes the grid and columns. Nothing is written when the
    iterator raises or yields nothing. The output path is checked before the first
    batch is asked for.

    Returns:
        The number of spectra written (0 when there was no batch: no file then).

    Raises:
        StarlabelInputError: bad output path: not ``.h5``/``.hdf5``, a directory, an
            unwritable folder, or an existing file without ``overwrite``.
    """
    check_output(path, overwrite=overwrite, suffixes=DATASET_SUFFIXES)
    writer: DatasetWriter | None = None
    n = 0
    try:
        for batch in batches:
            if writer is None:
                writer = DatasetWriter(path, batch, overwrite=overwrite)
            writer.append(batch)
            n += batch.n_spectra
        if writer is not None:
            writer.close()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    return n


def write_dataset(spectra: Spectra, path: PathLike, *, overwrite: bool = False) -> None:
    """Write ``spectra`` to a dataset file (``.h5``/``.hdf5``), atomically.

    Raises:
        StarlabelInputError: bad output path, or an existing file without ``overwrite``.
    """
    with DatasetWriter(path, spectra, overwrite=overwrite) as w:
        w.append(spectra)


def _create_layout(
    f: h5py.File, template: Spectra, attrs: dict[str, str] | None
) -> None:
    """The root attributes, the grid and the empty, growable arrays and columns."""
    f.attrs["format"] = FORMAT
    f.attrs["version"] = VERSION
    f.attrs["wavelength_unit"] = "Angstrom"
    f.attrs["medium"] = template.medium
    f.attrs["rest_frame"] = bool(template.rest_frame)
    f.attrs["setup"] = template.setup
    for key, value in template.attrs.items():
        if key not in RESERVED_ATTRS:
            f.attrs[key] = attr_value(value)
    for key, value in (attrs or {}).items():
        f.attrs[key] = value
    f.create_dataset("wavelength", data=template.wavelength_aa.astype(np.float64))
    p = template.n_pixels
    rows = chunk_rows(p)
    for name in ("flux", "ivar"):
        f.create_dataset(
            name,
            shape=(0, p),
            maxshape=(None, p),
            dtype=np.float32,
            chunks=(rows, p),
        )
    for group in ROW_GROUPS:
        g = f.create_group(group, track_order=True)
        for key, values in getattr(template, group).items():
            dtype = STR if values.dtype.kind == "U" else values.dtype
            ds = g.create_dataset(
                key,
                shape=(0,),
                maxshape=(None,),
                dtype=dtype,
                chunks=(max(rows, 1024),),
            )
            if group in LABEL_GROUPS:
                ds.attrs["unit"] = template.label_units.get(key, "")
