"""The starlabel dataset file (HDF5, ``format = "starlabel-spectra"``, version 1).

Layout (ARCHITECTURE.md): root attributes ``format``, ``version``,
``wavelength_unit``, ``medium``, ``rest_frame``, ``setup``; datasets
``/wavelength`` (float64), ``/flux`` and ``/ivar`` (float32, n_spec x n_pix, chunked
by rows), groups ``/labels``, ``/labels_err``, ``/labels_crlb`` (float64, attr
``unit``), ``/extra`` (float32) and ``/meta`` (``id`` required and unique).

Files are written to a temporary file and renamed, so a failed write leaves nothing;
output names must end in ``.h5`` or ``.hdf5``, and an existing file is replaced only
with ``overwrite=True``. :class:`DatasetReader` reads rows in batches, so a file
larger than memory can be processed; :class:`DatasetWriter` appends batches the
same way.

Reading masks non-physical flux (:func:`~starlabel.spectra.preprocess.nonphysical_flux`:
not finite or outside [-1, 10], the dataset flux being continuum-normalised): such
pixels get ``ivar = 0`` and an interpolated flux, the star's ``/meta/flag`` (when the
file has one) gets :attr:`Flag.NONPHYSICAL_FLUX`, the reader counts them
(``n_nonphysical_pixels``, ``n_nonphysical_spectra``) and logs one warning per file
and process with the whole file's counts. A grid that looks like nm or micron
labelled Angstrom (judged by the declared setup) is refused with that reason.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import astropy.units as u
import h5py
import numpy as np

from ..._atomic import (
    DATASET_SUFFIXES,
    AtomicFile,
    check_output,
    crash_point,
    remove_stale_temporaries,
)
from ..._typing import PathLike
from ...errors import StarlabelInputError
from ..container import Spectra
from ..flags import Flag
from ..preprocess import mask_nonphysical, nonphysical_flux

__all__ = [
    "FORMAT",
    "VERSION",
    "write_dataset",
    "write_batches",
    "read_dataset",
    "iter_dataset",
    "split_dataset",
    "split_outputs",
    "dataset_fingerprint",
    "DatasetReader",
    "DatasetWriter",
]

log = logging.getLogger(__name__)

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
    "split_group",
    "split_files",
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
        for key, value in (attrs or {}).items():
            f.attrs[key] = value
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

    def _fail(self, problem: str) -> StarlabelInputError:
        return StarlabelInputError(problem, path=self.path)

    def _check(self) -> None:
        f = self._file
        self.n_nonphysical_pixels = 0
        self.n_nonphysical_spectra = 0
        fmt = _read_attr(f.attrs.get("format", ""))
        if fmt != FORMAT:
            raise StarlabelInputError(
                f"not a starlabel dataset (format attribute {fmt!r}, expected {FORMAT!r}); "
                "make one with `starlabel prepare`",
                path=self.path,
            )
        try:
            version = int(_read_attr(f.attrs.get("version", 0)))
        except (TypeError, ValueError):
            raise self._fail(
                f"version attribute {f.attrs.get('version')!r} is not a number"
            ) from None
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
            if not isinstance(f[name], h5py.Dataset):
                raise self._fail(f"/{name} is a group, expected a dataset")
        for name in ("flux", "ivar"):
            ds = f[name]
            if ds.ndim != 2:
                raise self._fail(
                    f"/{name} has shape {ds.shape}, expected (n_spectra, n_pixels)"
                )
            if ds.dtype.kind not in "fiu":
                raise self._fail(f"/{name} has type {ds.dtype}, expected float32")
        n, p = f["flux"].shape
        if f["wavelength"].shape != (p,) or f["ivar"].shape != (n, p):
            raise StarlabelInputError(
                f"/wavelength {f['wavelength'].shape}, /flux {(n, p)} and /ivar "
                f"{f['ivar'].shape} shapes disagree",
                path=self.path,
            )
        if f["wavelength"].dtype.kind not in "fiu":
            raise self._fail(
                f"/wavelength has type {f['wavelength'].dtype}, expected float64"
            )
        for group in _ROW_GROUPS:
            if group not in f:
                continue
            g = f[group]
            if not isinstance(g, h5py.Group):
                raise self._fail(f"/{group} is a dataset, expected a group of columns")
            for key, item in g.items():
                where = f"/{group}/{key}"
                if not isinstance(item, h5py.Dataset):
                    raise self._fail(
                        f"{where} is a group; /{group} may hold only 1-D datasets "
                        f"(one per column) of length {n}"
                    )
                if item.shape != (n,):
                    raise self._fail(
                        f"{where} has shape {item.shape}, expected ({n},) (one value "
                        "per spectrum)"
                    )
                text = item.dtype.kind in "OSU" or (
                    h5py.check_string_dtype(item.dtype) is not None
                )
                if group != "meta" and (text or item.dtype.kind not in "fiub"):
                    raise self._fail(f"{where} has type {item.dtype}, expected numbers")
                if group == "meta" and not text and item.dtype.kind not in "fiub":
                    raise self._fail(
                        f"{where} has type {item.dtype}, expected numbers or text"
                    )
        if f["meta/id"].dtype.kind not in "OSUiu":
            raise self._fail(f"/meta/id has type {f['meta/id'].dtype}, expected text")
        unit = _read_attr(f.attrs.get("wavelength_unit", "Angstrom"))
        try:
            self._scale = u.Unit(unit).to(u.AA)
        except (ValueError, TypeError, u.UnitConversionError) as exc:
            raise StarlabelInputError(
                f"wavelength_unit {unit!r} is not a length", path=self.path
            ) from exc
        wl = f["wavelength"][...] * self._scale
        if not np.all(np.isfinite(wl)) or (p > 1 and not np.all(np.diff(wl) > 0)):
            raise StarlabelInputError(
                "/wavelength is not strictly increasing", path=self.path
            )
        if p:
            wrong = _wrong_unit(wl, unit, str(_read_attr(f.attrs.get("setup", ""))))
            if wrong:
                raise self._fail(wrong)
        self.wavelength_aa = wl

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
        ids = [_read_attr(f["meta/id"][r]) for r in first]
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


# files whose non-physical pixels were reported by this process
_WARNED: set[tuple] = set()


def _wrong_unit(wl: np.ndarray, unit: str, setup: str) -> str | None:
    """Why a grid in Angstrom (``wl``) looks like nm or micron labelled ``unit``,
    judged by the declared setup's grid, else by the range of stellar spectra."""
    from ..grids import NAMED_GRIDS
    from ..raw import PLAUSIBLE_WAVELENGTH_AA

    lo, hi = float(wl[0]), float(wl[-1])
    plausible_lo, plausible_hi = PLAUSIBLE_WAVELENGTH_AA
    for factor, name in ((10.0, "nm"), (1e4, "micron")):
        if setup in NAMED_GRIDS:
            segments = NAMED_GRIDS[setup][0]
            s_lo, s_hi = float(segments[0][0]), float(segments[-1][-1])
            slack = 0.02 * (s_hi - s_lo)
            overlaps = lo <= s_hi + slack and hi >= s_lo - slack
            fits = s_lo - slack <= factor * lo and factor * hi <= s_hi + slack
            why = f"setup {setup} spans {s_lo:.0f}-{s_hi:.0f} Angstrom"
        elif name == "nm":
            overlaps = hi >= plausible_lo
            fits = plausible_lo <= factor * lo and factor * hi <= plausible_hi
            why = "no stellar spectrum lies below 900 Angstrom"
        else:
            continue
        if not overlaps and fits:
            return (
                f"wavelengths {lo:.4g}-{hi:.4g} labelled {unit} look like {name}, not "
                f"Angstrom ({why}); set the root attribute wavelength_unit to "
                f"'{name}' or rewrite /wavelength in Angstrom"
            )
    return None


def read_dataset(path: PathLike, rows: slice | None = None) -> Spectra:
    """Read a dataset file, or a contiguous slice of its rows, into ``Spectra``."""
    with DatasetReader(path) as r:
        return r.read(rows)


def iter_dataset(path: PathLike, batch_size: int = 1024) -> Iterator[Spectra]:
    """Iterate a dataset file in batches (bounded memory)."""
    with DatasetReader(path) as r:
        yield from r.iter_batches(batch_size)


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
    f = source._file
    n, p = f["flux"].shape
    h = hashlib.sha256()
    h.update(f"{FORMAT}/{VERSION}/{n}x{p}\n".encode())
    h.update(np.ascontiguousarray(source.wavelength_aa, dtype="<f8").tobytes())
    ds = f["meta/id"]
    text = ds.dtype.kind in "OSU" or h5py.check_string_dtype(ds.dtype) is not None
    step = 1 << 13  # ids read 8192 at a time: memory stays bounded
    for a in range(0, n, step):
        chunk = ds.asstr()[a : a + step] if text else ds[a : a + step]
        h.update("\0".join(str(v) for v in chunk).encode("utf-8") + b"\0")
    for row in sorted({0, n - 1}) if n else []:
        for name in ("flux", "ivar"):
            h.update(np.ascontiguousarray(f[name][row], dtype="<f4").tobytes())
    return "sha256:" + h.hexdigest()


SPLIT_NAMES = {2: ("train", "valid"), 3: ("train", "valid", "test")}


def split_outputs(prefix: PathLike, n_parts: int = 3) -> dict[str, Path]:
    """The files :func:`split_dataset` writes: part name -> ``PREFIX-<name>.h5``."""
    if n_parts not in SPLIT_NAMES:
        raise ValueError(f"n_parts: expected 2 or 3, got {n_parts}")
    return {name: Path(f"{prefix}-{name}.h5") for name in SPLIT_NAMES[n_parts]}


def split_dataset(
    path: PathLike,
    prefix: PathLike,
    fractions: Sequence[float] = (0.6, 0.2, 0.2),
    *,
    seed: int = 0,
    stratify: str | None = None,
    batch_size: int = 4096,
    overwrite: bool = False,
) -> dict[str, tuple[Path, int]]:
    """Split a dataset file into ``PREFIX-train.h5``, ``PREFIX-valid.h5`` (and ``-test``).

    Streams the file in batches (bounded memory); the assignment is that of
    :meth:`Spectra.split` with the same seed. All files appear together or none:
    every target is checked first, all parts are written to temporary files, and
    they are renamed only when all are complete (a rename failing midway removes
    the parts this call had already put in place). Each part records its split
    (attributes ``split_group``, ``split_files``): the parts of a split killed
    while its files were moved into place are replaced by the next run without
    ``--overwrite``.

    Args:
        overwrite: replace existing part files.

    Returns:
        part name -> (path, number of spectra).

    Raises:
        StarlabelInputError: a target is a directory, unwritable or exists without
            ``overwrite``; the input is unreadable; a part would be empty.
    """
    from ..splits import assign_split

    if len(fractions) not in SPLIT_NAMES:
        raise ValueError(
            f"fractions: give 2 (train, valid) or 3 (train, valid, test), got {len(fractions)}"
        )
    names = SPLIT_NAMES[len(fractions)]
    outputs = split_outputs(prefix, len(fractions))
    unfinished = _unfinished_split(outputs)
    for target in outputs.values():
        remove_stale_temporaries(target)
        check_output(
            target,
            overwrite=overwrite or target in unfinished,
            suffixes=DATASET_SUFFIXES,
        )
    group = {
        "split_group": secrets.token_hex(8),
        "split_files": json.dumps(sorted(p.name for p in outputs.values())),
    }
    with DatasetReader(path) as reader:
        if Path(path).resolve() in {o.resolve() for o in outputs.values()}:
            raise StarlabelInputError(
                "the input would be replaced by one of the split parts; choose another prefix",
                path=path,
            )
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
        writers: dict[str, DatasetWriter] = {}
        placed: list[Path] = []
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
                        writers[name] = DatasetWriter(
                            outputs[name],
                            batch,
                            overwrite=overwrite or outputs[name] in unfinished,
                            attrs=group,
                        )
                    writers[name].append(batch[sel])
            for w in writers.values():
                w.finish()
            for k, name in enumerate(names):
                if k:
                    crash_point("between")
                placed.append(writers[name].commit())
        except BaseException:
            for w in writers.values():
                w.abort()
            for done in placed:
                done.unlink(missing_ok=True)
            raise
    return {name: (outputs[name], int(counts[k])) for k, name in enumerate(names)}


def _unfinished_split(outputs: dict[str, Path]) -> set[Path]:
    """Parts of an earlier split of ours whose group is incomplete (a part missing
    or of another split: a run killed while moving its files into place). They
    are replaced without ``--overwrite``; a complete earlier split is not."""
    groups: dict[Path, str | None] = {}
    for target in outputs.values():
        groups[target] = None
        if not target.is_file() or target.is_symlink():
            continue
        try:
            with h5py.File(target, "r") as h5:
                if h5.attrs.get("format") == FORMAT:
                    groups[target] = str(h5.attrs.get("split_group", "")) or None
        except (OSError, ValueError):
            pass
    tokens = {g for g in groups.values() if g is not None}
    if not tokens or (len(tokens) == 1 and all(groups.values())):
        return set()
    return {t for t, g in groups.items() if g is not None}
