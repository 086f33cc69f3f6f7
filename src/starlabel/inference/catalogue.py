"""Catalogues: FITS binary table, CSV or Parquet, chosen by the file extension.

Columns (ARCHITECTURE.md): ``id``, then per label ``<name>``, ``<name>_err`` (total)
and, where the model provides them, ``<name>_err_int`` and ``<name>_err_ext``;
``flag`` (bit mask, see ``starlabel.spectra.Flag``). Units go in the column
metadata, and what each column means in its description (FITS ``TUNIT`` and
``TCOMMn``, Parquet field metadata ``unit`` and ``description``; the table's
metadata, e.g. the model and input fingerprints, in the FITS header and the
Parquet schema metadata; CSV keeps none of them). Written
atomically.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.table import Table

from .._atomic import atomic_path, check_output
from .._typing import PathLike
from ..errors import StarlabelInputError

__all__ = [
    "CATALOGUE_SUFFIXES",
    "write_catalogue",
    "read_catalogue_table",
    "catalogue_format",
]

_FORMATS = {
    ".fits": "fits",
    ".fit": "fits",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
CATALOGUE_SUFFIXES = tuple(_FORMATS)


def catalogue_format(path: PathLike) -> str:
    """``fits``, ``csv`` or ``parquet`` from the extension."""
    suffix = Path(path).suffix.lower()
    if suffix not in _FORMATS:
        raise ValueError(
            f"output: catalogue extension must be .fits, .csv or .parquet, got {suffix!r}"
        )
    return _FORMATS[suffix]


def write_catalogue(table: Table, path: PathLike, *, overwrite: bool = False) -> Path:
    """Write ``table`` to ``path`` (format by extension), atomically.

    Raises:
        StarlabelInputError: the path is a directory, its folder is not writable, or
            the file exists and ``overwrite`` is False.
    """
    fmt = catalogue_format(path)
    path = check_output(path, overwrite=overwrite, suffixes=CATALOGUE_SUFFIXES)
    with atomic_path(path, overwrite=overwrite) as tmp:
        if fmt == "fits":
            # FITS has no logarithmic units: dex columns are written without TUNIT and
            # named in a header comment instead.
            out = table.copy(copy_data=False)
            dex = [
                c
                for c in out.colnames
                if out[c].unit is not None and str(out[c].unit) == "dex"
            ]
            for c in dex:
                out[c].unit = None
            if dex:
                out.meta["COMMENT"] = [f"unit dex: {', '.join(dex)}"]
            from astropy.io import fits

            hdu = fits.table_to_hdu(out)
            for k, name in enumerate(out.colnames, start=1):
                if out[name].description:  # FITS TCOMMn: what the column means
                    hdu.header[f"TCOMM{k}"] = str(out[name].description)
            fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(tmp, overwrite=True)
        elif fmt == "csv":
            table.write(tmp, format="ascii.csv", overwrite=True)
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            fields, arrays = [], []
            for name in table.colnames:
                col = table[name]
                arr = pa.array(
                    np.asarray(col).tolist()
                    if col.dtype.kind in "US"
                    else np.asarray(col)
                )
                meta = {}
                if col.unit is not None:
                    meta[b"unit"] = str(col.unit).encode()
                if col.description:
                    meta[b"description"] = str(col.description).encode()
                fields.append(pa.field(name, arr.type, metadata=meta or None))
                arrays.append(arr)
            schema = pa.schema(
                fields, metadata={str(k): str(v) for k, v in table.meta.items()} or None
            )
            pq.write_table(pa.Table.from_arrays(arrays, schema=schema), tmp)
    return path


def read_catalogue_table(path: PathLike) -> Table:
    """Read a catalogue written by :func:`write_catalogue` (any of the formats).

    Raises:
        StarlabelInputError: one line naming the file: missing, empty, not a
            catalogue of its extension's format, truncated (a CSV row with missing
            fields or cut at the end of the file is named with its row number and
            star), or without an ``id`` column.
    """
    from ..spectra.io._common import check_csv_rows, open_fits

    path = Path(path)
    if not path.exists():
        raise StarlabelInputError("no such file", path=path)
    if path.is_dir():
        raise StarlabelInputError("is a directory, not a catalogue file", path=path)
    fmt = catalogue_format(path)
    if path.stat().st_size == 0:
        raise StarlabelInputError("empty file", path=path)
    try:
        if fmt == "fits":
            with open_fits(path) as hdul:  # reads all data: a truncated file fails
                index = next(
                    (
                        i
                        for i, h in enumerate(hdul)
                        if hasattr(h, "columns") and h.data is not None
                    ),
                    None,
                )
            if index is None:
                raise StarlabelInputError("no table HDU", path=path)
            table = Table.read(path, format="fits", hdu=index)
        elif fmt == "csv":
            check_csv_rows(path, require_final_newline=True)
            table = Table.read(path, format="ascii.csv")
        else:
            import pyarrow.parquet as pq

            arrow = pq.read_table(path)
            table = Table(arrow.to_pandas().to_dict(orient="list"))
            meta = arrow.schema.metadata or {}
            table.meta.update(
                {
                    k.decode(): v.decode()
                    for k, v in meta.items()
                    if not k.startswith(b"pandas")
                }
            )
    except StarlabelInputError:
        raise
    except Exception as exc:  # astropy/pyarrow raise many types for bad files
        raise StarlabelInputError(
            f"not a readable catalogue: {' '.join(str(exc).split())[:200]}", path=path
        ) from exc
    if "id" not in table.colnames:
        raise StarlabelInputError("catalogue has no id column", path=path)
    from astropy.table import Column, MaskedColumn

    for name in table.colnames:  # FITS readers mask NaN; the catalogue contract is NaN
        col = table[name]
        if isinstance(col, MaskedColumn) and col.dtype.kind == "f":
            table[name] = Column(col.filled(np.nan), unit=col.unit)
    table["id"] = np.asarray(table["id"]).astype(str)
    return table
