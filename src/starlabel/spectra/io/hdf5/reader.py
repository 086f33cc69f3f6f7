"""Reading the dataset file: checked on opening, rows read lazily in batches.

Reading masks non-physical flux (:func:`~starlabel.spectra.preprocess.nonphysical_flux`:
not finite or outside [-1, 10], the dataset flux being continuum-normalised): such
pixels get ``ivar = 0`` and an interpolated flux, the star's ``/meta/flag`` (when the
file has one) gets :attr:`Flag.NONPHYSICAL_FLUX`, the reader counts them
(``n_nonphysical_pixels``, ``n_nonphysical_spectra``) and logs one warning per file
and process with the whole file's counts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import astropy.units as u
import h5py
import numpy as np

from ...._typing import PathLike
from ....errors import StarlabelInputError
from ...container import Spectra
from ...flags import Flag
from ...preprocess import mask_nonphysical, nonphysical_flux
from .checks import check_file
from .layout import RESERVED_ATTRS, ROW_GROUPS, is_text, read_attr

__all__ = ["DatasetReader", "read_dataset", "iter_dataset"]

log = logging.getLogger(__name__)

# files whose non-physical pixels were reported by this process
_WARNED: set[tuple] = set()


class DatasetReader:
    """Open a dataset file and read rows lazily.

    Args:
        path: a file written by :func:`write_dataset` or ``starlabel prepare``.

    Raises:
        StarlabelInputError: if the file is missing, empty, truncated, of another
            format or a newer version, or lacks a required dataset.

    Example:
        >>> import astropy.units as u, tempfile, os
        >>> sp = Spectra(np.ones((5, 3)), [1.0, 2.0, 3.0] * u.AA)
        >>> path = os.path.join(tempfile.mkdtemp(), "d.h5"); sp.to_hdf5(path)
        >>> with DatasetReader(path) as r:
        ...     [len(b) for b in r.iter_batches(2)]
        [2, 2, 1]
    """

    def __init__(self, path: PathLike) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise StarlabelInputError("no such file", path=self.path)
        try:
            self._file = h5py.File(self.path, "r")
        except OSError as exc:
            raise StarlabelInputError(
                "not a readable HDF5 file (empty, truncated or another format)",
                path=self.path,
            ) from exc
        self.n_nonphysical_pixels = 0
        self.n_nonphysical_spectra = 0
        try:
            self.wavelength_aa = check_file(self._file, self.path)
        except BaseException:
            self._file.close()
            raise

    def _warn_nonphysical(self) -> None:
        """One warning per file and process, with the whole file's counts (a run
        that reads a file in parts, or twice, says it once and the same way)."""
        st = self.path.stat()
        key = (str(self.path.absolute()), st.st_mtime_ns, st.st_size, st.st_ino)
        if key in _WARNED:
            return
        _WARNED.add(key)
        f = self._file
        n, p = f["flux"].shape
        step = max(1, (1 << 22) // max(p, 1))
        n_pix, n_spec, first = 0, 0, []
        for start in range(0, n, step):
            flux, ivar = (
                f["flux"][start : start + step],
                f["ivar"][start : start + step],
            )
            bad = nonphysical_flux(flux, normalised=True) | (ivar < 0)
            hit = bad.any(axis=1)
            n_pix += int(bad.sum())
            n_spec += int(hit.sum())
            if len(first) < 3:
                first += (np.flatnonzero(hit)[: 3 - len(first)] + start).tolist()
        ids = [read_attr(f["meta/id"][r]) for r in first]
        log.warning(
            "%s: masked %d non-physical flux pixels (not finite, outside [-1, 10], "
            "or with negative ivar) in %d of %d spectra (first: ids %s, rows %s)",
            self.path,
            n_pix,
            n_spec,
            n,
            [str(i) for i in ids],
            first,
        )

    def __len__(self) -> int:
        return int(self._file["flux"].shape[0])

    @property
    def n_pixels(self) -> int:
        return int(self._file["flux"].shape[1])

    @property
    def label_names(self) -> list[str]:
        return list(self._file["labels"]) if "labels" in self._file else []

    @property
    def attrs(self) -> dict[str, Any]:
        return {k: read_attr(v) for k, v in self._file.attrs.items()}

    @property
    def meta_names(self) -> list[str]:
        """The ``/meta`` columns (``id`` among them)."""
        return list(self._file["meta"])

    def label_column(self, name: str) -> np.ndarray:
        """``(n_spectra,)`` values of one label as stored (NaN = unknown).

        Raises:
            KeyError: no such label.
        """
        return self._file["labels"][name][...]

    def label_unit(self, name: str) -> str:
        """The unit of one label as written in the file (``""`` when none)."""
        unit = self._file["labels"][name].attrs.get("unit", "")
        return unit.decode() if isinstance(unit, bytes) else str(unit)

    def meta_column(self, name: str) -> np.ndarray:
        """``(n_spectra,)`` values of one ``/meta`` column as stored (text as bytes).

        Raises:
            KeyError: no such column.
        """
        return self._file["meta"][name][...]

    def iter_id_chunks(self, size: int = 1 << 13) -> Iterator[np.ndarray]:
        """The ids in file order, ``size`` at a time (bounded memory); text ids
        as ``str``, numeric ids as stored."""
        ds = self._file["meta/id"]
        text = is_text(ds)
        for a in range(0, len(self), size):
            yield ds.asstr()[a : a + size] if text else ds[a : a + size]

    def stored_pixels(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        """``(flux, ivar)`` of one spectrum exactly as stored: no pixel masked."""
        return self._file["flux"][row], self._file["ivar"][row]

    def read(self, rows: slice | None = None) -> Spectra:
        """Read a contiguous range of rows (all rows by default)."""
        f = self._file
        sl = rows if rows is not None else slice(None)
        if sl.step not in (None, 1):
            raise ValueError("rows: only contiguous slices can be read")
        groups: dict[str, dict[str, np.ndarray]] = {}
        units: dict[str, str] = {}
        for group in ROW_GROUPS:
            groups[group] = {}
            if group not in f:
                continue
            for key, ds in f[group].items():
                if (
                    ds.dtype.kind == "O"
                    or h5py.check_string_dtype(ds.dtype) is not None
                ):
                    values = np.asarray(ds.asstr()[sl], dtype=str)
                else:
                    values = ds[sl]
                groups[group][key] = values
                if group == "labels":
                    units[key] = read_attr(ds.attrs.get("unit", ""))
        attrs = self.attrs
        extra_attrs = {k: v for k, v in attrs.items() if k not in RESERVED_ATTRS}
        flux, ivar = f["flux"][sl], f["ivar"][sl]
        negative = ivar < 0  # corrupt: masked like non-physical flux, never fed on
        if negative.any():
            ivar = np.where(negative, np.float32(0), ivar)
        flux, ivar, bad = mask_nonphysical(flux, ivar, normalised=True)
        bad |= negative
        hit = bad.any(axis=1)
        if hit.any():
            n_pix, n_spec = int(bad.sum()), int(hit.sum())
            self.n_nonphysical_pixels += n_pix
            self.n_nonphysical_spectra += n_spec
            if "flag" in groups["meta"] and groups["meta"]["flag"].dtype.kind in "iu":
                flag = groups["meta"]["flag"].copy()
                flag[hit] |= int(Flag.NONPHYSICAL_FLUX)
                groups["meta"]["flag"] = flag
            self._warn_nonphysical()
        try:
            return Spectra(
                flux,
                self.wavelength_aa * u.AA,
                ivar,
                groups["labels"],
                labels_err=groups["labels_err"],
                labels_crlb=groups["labels_crlb"],
                extra=groups["extra"],
                meta=groups["meta"],
                label_units=units,
                medium=attrs.get("medium", "air"),
                rest_frame=bool(attrs.get("rest_frame", True)),
                setup=str(attrs.get("setup", "")),
                attrs=extra_attrs,
            )
        except ValueError as exc:
            raise StarlabelInputError(str(exc), path=self.path) from exc

    def iter_batches(self, batch_size: int = 1024) -> Iterator[Spectra]:
        """Yield consecutive batches of at most ``batch_size`` spectra."""
        if batch_size < 1:
            raise ValueError(f"batch_size: expected >= 1, got {batch_size}")
        for start in range(0, len(self), batch_size):
            yield self.read(slice(start, min(start + batch_size, len(self))))

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> DatasetReader:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def read_dataset(path: PathLike, rows: slice | None = None) -> Spectra:
    """Read a dataset file, or a contiguous slice of its rows, into ``Spectra``."""
    with DatasetReader(path) as r:
        return r.read(rows)


def iter_dataset(path: PathLike, batch_size: int = 1024) -> Iterator[Spectra]:
    """Iterate a dataset file in batches (bounded memory)."""
    with DatasetReader(path) as r:
        yield from r.iter_batches(batch_size)
