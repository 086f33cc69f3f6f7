"""The starlabel dataset file (HDF5, ``format = "starlabel-spectra"``, version 1).

Layout (ARCHITECTURE.md): root attributes ``format``, ``version``,
``wavelength_unit``, ``medium``, ``rest_frame``, ``setup``; datasets
``/wavelength`` (float64), ``/flux`` and ``/ivar`` (float32, n_spec x n_pix, chunked
by rows), groups ``/labels``, ``/labels_err``, ``/labels_crlb`` (float64, attr
``unit``), ``/extra`` (float32) and ``/meta`` (``id`` required and unique).

Files are written to a temporary file and renamed, so a failed write leaves nothing.
:class:`DatasetReader` reads rows in batches, so a file larger than memory can be
processed; :class:`DatasetWriter` appends batches the same way.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import astropy.units as u
import h5py
import numpy as np

from ..._atomic import atomic_path
from ..._typing import PathLike
from ...errors import StarlabelInputError
from ..container import Spectra

__all__ = [
    "FORMAT",
    "VERSION",
    "write_dataset",
    "read_dataset",
    "DatasetReader",
    "DatasetWriter",
]

FORMAT = "starlabel-spectra"
VERSION = 1
_ROW_GROUPS = ("labels", "labels_err", "labels_crlb", "extra", "meta")
_RESERVED_ATTRS = {
    "format",
    "version",
    "wavelength_unit",
    "medium",
    "rest_frame",
    "setup",
}
_STR = h5py.string_dtype("utf-8")


def _chunk_rows(n_pixels: int) -> int:
    # About 1 MiB of float32 per chunk: small enough to stream, large enough to be fast.
    return max(1, min(4096, (1 << 20) // max(1, 4 * n_pixels)))


def _attr_value(value: Any) -> Any:
    if isinstance(value, (dict, list, tuple)):
        return "json:" + json.dumps(value)
    return value


def _read_attr(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    if isinstance(value, str) and value.startswith("json:"):
        return json.loads(value[5:])
    if isinstance(value, np.generic):
        return value.item()
    return value


class DatasetWriter:
    """Write a dataset file batch by batch; the file appears only on ``close()``.

    Args:
        path: output ``.h5`` file.
        template: a ``Spectra`` (for example the first batch) fixing the grid, the
            label, extra and meta columns, the units and the file attributes.

    Example:
        >>> import astropy.units as u, tempfile, os
        >>> sp = Spectra(np.ones((4, 3)), [1.0, 2.0, 3.0] * u.AA, labels={"teff": [1., 2, 3, 4]})
        >>> path = os.path.join(tempfile.mkdtemp(), "d.h5")
        >>> with DatasetWriter(path, sp) as w:
        ...     w.append(sp[:2]); w.append(sp[2:])
        >>> len(read_dataset(path))
        4
    """

    def __init__(self, path: PathLike, template: Spectra) -> None:
        self.path = Path(path)
        self._template = template
        self._ctx = atomic_path(self.path)
        self._tmp = self._ctx.__enter__()
        self._file = h5py.File(self._tmp, "w")
        self._n = 0
        self._ids: set[str] = set()
        f = self._file
        f.attrs["format"] = FORMAT
        f.attrs["version"] = VERSION
        f.attrs["wavelength_unit"] = "Angstrom"
        f.attrs["medium"] = template.medium
        f.attrs["rest_frame"] = bool(template.rest_frame)
        f.attrs["setup"] = template.setup
        for key, value in template.attrs.items():
            if key not in _RESERVED_ATTRS:
                f.attrs[key] = _attr_value(value)
        f.create_dataset("wavelength", data=template.wavelength_aa.astype(np.float64))
        p = template.n_pixels
        rows = _chunk_rows(p)
        for name in ("flux", "ivar"):
            f.create_dataset(
                name,
                shape=(0, p),
                maxshape=(None, p),
                dtype=np.float32,
                chunks=(rows, p),
            )
        for group in _ROW_GROUPS:
            g = f.create_group(group, track_order=True)
            for key, values in getattr(template, group).items():
                dtype = _STR if values.dtype.kind == "U" else values.dtype
                ds = g.create_dataset(
                    key,
                    shape=(0,),
                    maxshape=(None,),
                    dtype=dtype,
                    chunks=(max(rows, 1024),),
                )
                if group in ("labels", "labels_err", "labels_crlb"):
                    ds.attrs["unit"] = template.label_units.get(key, "")

    def append(self, batch: Spectra) -> None:
        """Append a batch with the template's grid and columns."""
        t = self._template
        if batch.n_pixels != t.n_pixels or not np.allclose(
            batch.wavelength_aa, t.wavelength_aa, rtol=1e-12, atol=0
        ):
            raise ValueError("batch: wavelength grid differs from the file's grid")
        for group in _ROW_GROUPS:
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
        for group in _ROW_GROUPS:
            for key, values in getattr(batch, group).items():
                ds = f[group][key]
                ds.resize(n1, axis=0)
                ds[n0:n1] = (
                    values.astype(object) if values.dtype.kind == "U" else values
                )
        self._n = n1

    def close(self) -> None:
        """Finish the file and move it into place."""
        if self._file is None:
            return
        self._file.close()
        self._file = None
        self._ctx.__exit__(None, None, None)

    def abort(self) -> None:
        """Drop the partial file."""
        if self._file is None:
            return
        self._file.close()
        self._file = None
        with contextlib.suppress(RuntimeError):
            self._ctx.__exit__(RuntimeError, RuntimeError("aborted"), None)
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_batches(path: PathLike, batches: Iterator[Spectra]) -> int:
    """Write batches of spectra to one dataset file (atomically).

    The first batch fixes the grid and columns. Nothing is written when the
    iterator raises or yields nothing.

    Returns:
        The number of spectra written (0 when there was no batch: no file then).
    """
    writer: DatasetWriter | None = None
    n = 0
    try:
        for batch in batches:
            if writer is None:
                writer = DatasetWriter(path, batch)
            writer.append(batch)
            n += batch.n_spectra
        if writer is not None:
            writer.close()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    return n


def write_dataset(spectra: Spectra, path: PathLike) -> None:
    """Write ``spectra`` to a dataset file, atomically."""
    with DatasetWriter(path, spectra) as w:
        w.append(spectra)


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
        try:
            self._check()
        except BaseException:
            self._file.close()
            raise

    def _check(self) -> None:
        f = self._file
        fmt = _read_attr(f.attrs.get("format", ""))
        if fmt != FORMAT:
            raise StarlabelInputError(
                f"not a starlabel dataset (format attribute {fmt!r}, expected {FORMAT!r}); "
                "make one with `starlabel prepare`",
                path=self.path,
            )
        version = int(_read_attr(f.attrs.get("version", 0)))
        if version > VERSION:
            raise StarlabelInputError(
                f"dataset format version {version} is newer than this starlabel reads "
                f"({VERSION}); upgrade starlabel",
                path=self.path,
            )
        if version < 1:
            raise StarlabelInputError(
                f"unknown dataset format version {version}", path=self.path
            )
        for name in ("wavelength", "flux", "ivar", "meta/id"):
            if name not in f:
                raise StarlabelInputError(
                    f"missing required dataset /{name}", path=self.path
                )
        n, p = f["flux"].shape
        if f["wavelength"].shape != (p,) or f["ivar"].shape != (n, p):
            raise StarlabelInputError(
                "/wavelength, /flux and /ivar shapes disagree", path=self.path
            )
        unit = _read_attr(f.attrs.get("wavelength_unit", "Angstrom"))
        try:
            self._scale = u.Unit(unit).to(u.AA)
        except (ValueError, u.UnitConversionError) as exc:
            raise StarlabelInputError(
                f"wavelength_unit {unit!r} is not a length", path=self.path
            ) from exc
        wl = f["wavelength"][...] * self._scale
        if p > 1 and not np.all(np.diff(wl) > 0):
            raise StarlabelInputError(
                "/wavelength is not strictly increasing", path=self.path
            )
        self.wavelength_aa = wl

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
        return {k: _read_attr(v) for k, v in self._file.attrs.items()}

    def read(self, rows: slice | None = None) -> Spectra:
        """Read a contiguous range of rows (all rows by default)."""
        f = self._file
        sl = rows if rows is not None else slice(None)
        if sl.step not in (None, 1):
            raise ValueError("rows: only contiguous slices can be read")
        groups: dict[str, dict[str, np.ndarray]] = {}
        units: dict[str, str] = {}
        for group in _ROW_GROUPS:
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
                    units[key] = _read_attr(ds.attrs.get("unit", ""))
        attrs = self.attrs
        extra_attrs = {k: v for k, v in attrs.items() if k not in _RESERVED_ATTRS}
        try:
            return Spectra(
                f["flux"][sl],
                self.wavelength_aa * u.AA,
                f["ivar"][sl],
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


SPLIT_NAMES = {2: ("train", "valid"), 3: ("train", "valid", "test")}


def split_dataset(
    path: PathLike,
    prefix: PathLike,
    fractions: Sequence[float] = (0.6, 0.2, 0.2),
    *,
    seed: int = 0,
    stratify: str | None = None,
    batch_size: int = 4096,
) -> dict[str, tuple[Path, int]]:
    """Split a dataset file into ``PREFIX-train.h5``, ``PREFIX-valid.h5`` (and ``-test``).

    Streams the file in batches (bounded memory); the assignment is that of
    :meth:`Spectra.split` with the same seed. All files appear together or none.

    Returns:
        part name -> (path, number of spectra).
    """
    from ..container import assign_split

    if len(fractions) not in SPLIT_NAMES:
        raise ValueError(
            f"fractions: give 2 (train, valid) or 3 (train, valid, test), got {len(fractions)}"
        )
    names = SPLIT_NAMES[len(fractions)]
    with DatasetReader(path) as reader:
        strata = None
        if stratify is not None:
            if stratify not in reader.label_names:
                raise StarlabelInputError(
                    f"no label {stratify!r} to stratify on; have {reader.label_names}",
                    path=reader.path,
                )
            strata = reader._file["labels"][stratify][...]
        part = assign_split(len(reader), fractions, seed=seed, strata=strata)
        counts = np.bincount(part, minlength=len(names))
        if np.any(counts == 0):
            raise StarlabelInputError(
                f"{len(reader)} spectra are too few for fractions {list(fractions)}: a part would be empty",
                path=reader.path,
            )
        outputs = {name: Path(f"{prefix}-{name}.h5") for name in names}
        writers: dict[str, DatasetWriter] = {}
        try:
            start = 0
            for batch in reader.iter_batches(batch_size):
                which = part[start : start + len(batch)]
                start += len(batch)
                for k, name in enumerate(names):
                    sel = which == k
                    if not sel.any():
                        continue
                    if name not in writers:
                        writers[name] = DatasetWriter(outputs[name], batch)
                    writers[name].append(batch[sel])
            for w in writers.values():
                w.close()
        except BaseException:
            for w in writers.values():
                w.abort()
            raise
    return {name: (outputs[name], int(counts[k])) for k, name in enumerate(names)}
