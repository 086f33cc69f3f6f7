"""Catalogues: FITS binary table, CSV or Parquet, chosen by the file extension.

Columns (ARCHITECTURE.md): ``id``, then per label ``<name>``, ``<name>_err`` (total)
and, where the model provides them, ``<name>_err_int`` and ``<name>_err_ext``;
``flag`` (bit mask, see ``starlabel.spectra.Flag``). Units go in the column
metadata, and what each column means in its description (FITS ``TUNIT`` and
``TCOMMn``, Parquet field metadata ``unit`` and ``description``; the table's
metadata, e.g. the model and input fingerprints, in the FITS header, the Parquet
schema metadata and CSV comment lines ``# KEY = value`` above the header row).
Every catalogue says starlabel wrote it (:mod:`starlabel._owned`: FITS card
``CREATOR``, Parquet metadata ``creator``, a first CSV line ``# written by
starlabel ...``). Written atomically.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from astropy.table import Table

from .._atomic import atomic_path, check_output
from .._owned import creator, text_marker
from .._typing import PathLike
from ..errors import StarlabelInputError

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "CATALOGUE_SUFFIXES",
    "write_catalogue",
    "read_catalogue_table",
    "catalogue_format",
    "table_to_arrow",
    "arrow_to_table",
    "write_catalogue_stream",
    "read_csv_meta",
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


def table_to_arrow(table: Table) -> pa.Table:
    """An astropy table as a pyarrow table: units and descriptions in the field
    metadata (``unit``, ``description``), the table's metadata in the schema's."""
    import pyarrow as pa

    fields, arrays = [], []
    for name in table.colnames:
        col = table[name]
        values = np.asarray(col)
        if values.dtype.kind in "US":
            arr = pa.array(values.astype(str).tolist())
        else:  # FITS columns come big-endian; Arrow takes native order only
            arr = pa.array(values.astype(values.dtype.newbyteorder("=")))
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
    return pa.Table.from_arrays(arrays, schema=schema)


def arrow_to_table(arrow: pa.Table) -> Table:
    """The inverse of :func:`table_to_arrow` (units, descriptions, metadata)."""
    table = Table()
    for field, column in zip(arrow.schema, arrow.columns, strict=True):
        values = column.to_numpy(zero_copy_only=False)
        if values.dtype == object:
            values = values.astype(str)
        table[field.name] = values
        meta = field.metadata or {}
        if b"unit" in meta:
            table[field.name].unit = meta[b"unit"].decode()
        if b"description" in meta:
            table[field.name].description = meta[b"description"].decode()
    table.meta.update(
        {
            k.decode(): v.decode()
            for k, v in (arrow.schema.metadata or {}).items()
            if not k.startswith((b"pandas", b"starlabel_"))
        }
    )
    return table


def _fits_hdu(table: Table, widths: dict[str, int] | None = None):
    """The binary-table HDU of ``table``: dex columns without TUNIT (FITS has no
    logarithmic units; named in a header comment), descriptions as TCOMMn, string
    columns ``widths`` characters wide where given."""
    from astropy.io import fits

    out = table.copy(copy_data=False)
    for name, width in (widths or {}).items():
        out[name] = np.asarray(out[name]).astype(f"U{max(width, 1)}")
        out[name].description = table[name].description
    dex = [
        c for c in out.colnames if out[c].unit is not None and str(out[c].unit) == "dex"
    ]
    for c in dex:
        out[c].unit = None
    if dex:
        out.meta["COMMENT"] = [f"unit dex: {', '.join(dex)}"]
    hdu = fits.table_to_hdu(out)
    for k, name in enumerate(out.colnames, start=1):
        if out[name].description:  # FITS TCOMMn: what the column means
            hdu.header[f"TCOMM{k}"] = str(out[name].description)
    return hdu


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
            from astropy.io import fits

            fits.HDUList([_primary_hdu(), _fits_hdu(table)]).writeto(
                tmp, overwrite=True
            )
        elif fmt == "csv":
            buf = io.StringIO()
            table.write(buf, format="ascii.csv")
            with open(tmp, "w", encoding="utf-8", newline="") as fh:
                fh.write(_csv_header(table.meta) + buf.getvalue())
        else:
            import pyarrow.parquet as pq

            arrow = table_to_arrow(table)
            meta = dict(arrow.schema.metadata or {}) | {b"creator": creator().encode()}
            pq.write_table(arrow.replace_schema_metadata(meta), tmp)
    return path


def _primary_hdu():
    """An empty primary HDU saying starlabel wrote the file."""
    from astropy.io import fits

    primary = fits.PrimaryHDU()
    primary.header["CREATOR"] = (creator(), "program that wrote this file")
    return primary


def _csv_header(meta) -> str:
    """The comment lines above a CSV catalogue's header row: the marker, then the
    table metadata as ``# KEY = value`` (strings on one line each)."""
    lines = [text_marker()]
    for key, value in (meta or {}).items():
        if key in ("comments", "COMMENT") or isinstance(value, (list, dict)):
            continue
        lines.append(f"# {key} = {' '.join(str(value).split())}")
    return "\n".join(lines) + "\n"


def read_csv_meta(path: PathLike) -> dict[str, str]:
    """The ``# KEY = value`` metadata above a CSV catalogue's header row."""
    lines = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line.startswith("#"):
                break
            lines.append(line[1:].strip())
    return _csv_meta(lines)


def _csv_meta(comments) -> dict[str, str]:
    """The metadata of a CSV catalogue from its comment lines (see :func:`_csv_header`)."""
    meta = {}
    for line in comments or []:
        key, sep, value = str(line).partition(" = ")
        if sep and key.strip() and " " not in key.strip():
            meta[key.strip()] = value.strip()
    return meta


def write_catalogue_stream(
    parts: Callable[[], Iterator[pa.Table]],
    path: PathLike,
    *,
    meta: dict[str, str],
    overwrite: bool = False,
) -> tuple[Path, int]:
    """Write a catalogue from pieces (pyarrow tables of the same columns, as made by
    :func:`table_to_arrow`), atomically, one piece in memory at a time.

    Args:
        parts: called to iterate over the pieces in catalogue order; FITS calls it
            twice (the header needs the row count and string widths first).
        path: the catalogue (.fits, .csv, .parquet).
        meta: the table's metadata (FITS header cards, Parquet schema metadata).
        overwrite: replace an existing file.

    Returns:
        the path and the number of rows written.
    """
    import pyarrow as pa

    fmt = catalogue_format(path)
    path = check_output(path, overwrite=overwrite, suffixes=CATALOGUE_SUFFIXES)
    n_rows = 0
    with atomic_path(path, overwrite=overwrite) as tmp:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            writer = None
            try:
                for piece in parts():
                    if writer is None:
                        schema = piece.schema.with_metadata(
                            {str(k): str(v) for k, v in meta.items()}
                            | {"creator": creator()}
                        )
                        writer = pq.ParquetWriter(tmp, schema)
                    writer.write_table(piece.cast(schema))
                    n_rows += piece.num_rows
            finally:
                if writer is not None:
                    writer.close()
        elif fmt == "csv":
            with open(tmp, "w", encoding="utf-8", newline="") as fh:
                fh.write(_csv_header(meta))
                for piece in parts():
                    buf = io.StringIO()
                    arrow_to_table(piece).write(buf, format="ascii.csv")
                    text = buf.getvalue()
                    fh.write(text if n_rows == 0 else text.split("\n", 1)[1])
                    n_rows += piece.num_rows
        else:
            n_rows = _write_fits_stream(parts, tmp, meta, pa)
    return path, n_rows


def _write_fits_stream(parts, tmp: Path, meta: dict[str, str], pa) -> int:
    import pyarrow.compute as pc
    from astropy.io import fits

    n_rows, widths = 0, {}
    for piece in parts():  # first pass: rows and the widest string of each column
        n_rows += piece.num_rows
        for field, column in zip(piece.schema, piece.columns, strict=True):
            if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
                longest = pc.max(pc.utf8_length(column)).as_py() or 1
                widths[field.name] = max(widths.get(field.name, 1), longest)
    stream, primary = None, _primary_hdu()
    try:
        for piece in parts():
            table = arrow_to_table(piece)
            table.meta.update(meta)
            hdu = _fits_hdu(table, widths)
            if stream is None:
                header = hdu.header.copy()
                header["NAXIS2"] = n_rows
                primary.writeto(tmp, overwrite=True)  # the temporary file we own
                stream = fits.StreamingHDU(str(tmp), header)  # a Path loses its folder
            buf = io.BytesIO()
            fits.HDUList([_primary_hdu(), hdu]).writeto(buf)
            start = len(primary.header.tostring()) + len(hdu.header.tostring())
            raw = buf.getbuffer()[start : start + hdu.header["NAXIS1"] * piece.num_rows]
            stream.write(np.frombuffer(raw, dtype=np.uint8))
    finally:
        if stream is not None:
            stream.close()
    if stream is None or not stream.writecomplete:
        raise RuntimeError(f"{tmp}: FITS stream ended short of its {n_rows} rows")
    return n_rows


def _dex_columns(header) -> list[str]:
    """Columns named in the ``unit dex: ...`` comment of a catalogue we wrote."""
    for card in header.get("COMMENT", []):
        text = str(card)
        if text.startswith("unit dex:"):
            return [c.strip() for c in text[len("unit dex:") :].split(",") if c.strip()]
    return []


def read_catalogue_table(path: PathLike) -> Table:
    """Read a catalogue written by :func:`write_catalogue` (any of the formats), or a
    catalogue folder of parts (``predict -o folder/``: its rows in input order).

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
        from .parts import MANIFEST, read_parts_table

        if (path / MANIFEST).exists():
            return read_parts_table(path)
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
            from astropy.io import fits

            header = fits.getheader(path, index)
            for k, name in enumerate(table.colnames, start=1):
                if header.get(f"TCOMM{k}"):  # what the column means
                    table[name].description = str(header[f"TCOMM{k}"])
            for name in _dex_columns(header):
                if name in table.colnames and table[name].unit is None:
                    table[name].unit = "dex"
        elif fmt == "csv":
            check_csv_rows(path, require_final_newline=True)
            table = Table.read(path, format="ascii.csv", comment="#")
            table.meta = _csv_meta(table.meta.get("comments"))
        else:
            import pyarrow.parquet as pq

            table = arrow_to_table(pq.read_table(path))
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
