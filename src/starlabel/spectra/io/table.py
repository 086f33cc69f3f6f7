"""Generic wavelength-flux-error tables (``--format table``): CSV, ECSV, FITS, Parquet.

One spectrum per file (id = file name stem) or many in long form grouped by an id
column (``id``, ``star_id``, ``source_id``, ``object``). Columns are found by name
(``wavelength``/``wave``/``lambda``, ``flux``, ``ivar`` or ``error``/``sigma``/
``variance``) or given as options. The wavelength unit must be known: from the
column's unit (FITS ``TUNIT``, ECSV), from the column name (``wavelength_nm``,
``wave [Angstrom]``) or from the ``wavelength_unit`` option; unit-less wavelengths
are refused rather than guessed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from ...errors import StarlabelInputError
from ..raw import RawSpectrum
from ._common import (
    FITS_EXTENSIONS,
    check_csv_rows,
    guess_error_kind,
    has_extension,
    ivar_from,
    length_unit,
    open_fits,
    pick,
    to_angstrom,
)
from .registry import register_reader

WAVE = ("wavelength", "wave", "lambda", "wl")
FLUX = ("flux", "flux_norm", "fnorm")
ERROR = (
    "ivar",
    "inverse_variance",
    "error",
    "err",
    "sigma",
    "flux_error",
    "flux_err",
    "variance",
    "var",
)
IDS = ("id", "star_id", "source_id", "object", "cname")
TEXT_EXTENSIONS = (".csv", ".ecsv", ".txt", ".dat", ".tsv")
PARQUET_EXTENSIONS = (".parquet", ".pq")


def _base(name: str) -> str:
    return re.split(r"[\s\[\(]", name.strip(), maxsplit=1)[0].lower()


def _unit_in_name(name: str) -> str | None:
    m = re.search(r"[\[\(]\s*([A-Za-z]+)\s*[\]\)]", name)
    if m:
        return m.group(1)
    m = re.search(r"_(aa|angstrom|nm|um|micron)$", name.strip().lower())
    return m.group(1) if m else None


def read_any_table(path: Path) -> tuple[pd.DataFrame, dict[str, str]]:
    """A table file as a DataFrame plus the units its columns declare."""
    if path.stat().st_size == 0:
        raise StarlabelInputError("empty file", path=path)
    name = path.name.lower()
    units: dict[str, str] = {}
    try:
        if has_extension(path, FITS_EXTENSIONS):
            from astropy.table import Table

            with open_fits(path) as hdul:
                hdu = next(
                    (h for h in hdul if hasattr(h, "columns") and h.data is not None),
                    None,
                )
                if hdu is None:
                    raise StarlabelInputError("no table HDU", path=path)
                table = Table(hdu.data)
                units = {c.name: c.unit for c in hdu.columns if c.unit}
            cols = {}
            for c in table.colnames:
                v = table[c]
                cols[c] = list(np.asarray(v)) if v.ndim > 1 else np.asarray(v)
            return pd.DataFrame(cols), units
        if name.endswith(PARQUET_EXTENSIONS):
            return pd.read_parquet(path), units
        if name.endswith(".ecsv"):
            from astropy.table import Table

            table = Table.read(path, format="ascii.ecsv")
            units = {
                c: str(table[c].unit)
                for c in table.colnames
                if table[c].unit is not None
            }
            return table.to_pandas(), units
        sep = "\t" if name.endswith(".tsv") else None
        if name.endswith((".csv", ".tsv")):
            check_csv_rows(path, delimiter=sep or ",")
        return pd.read_csv(path, sep=sep, comment="#", engine="python"), units
    except StarlabelInputError:
        raise
    except Exception as exc:  # pandas/pyarrow raise many types for malformed files
        raise StarlabelInputError(
            f"not a readable table: {' '.join(str(exc).split())[:200]}", path=path
        ) from exc


def _identify(path: Path) -> bool:
    return path.name.lower().endswith(TEXT_EXTENSIONS + PARQUET_EXTENSIONS)


@register_reader(
    "table",
    extensions=TEXT_EXTENSIONS + PARQUET_EXTENSIONS + FITS_EXTENSIONS,
    identify=_identify,
    priority=80,
    description="generic wavelength/flux/error tables (CSV, ECSV, FITS, Parquet)",
)
def read_table_spectra(
    path: Path,
    *,
    wave: str | None = None,
    flux: str | None = None,
    error: str | None = None,
    error_kind: str | None = None,
    id_column: str | None = None,
    wavelength_unit: str | None = None,
    medium: str = "air",
) -> Iterator[RawSpectrum | StarlabelInputError]:
    """Read wavelength-flux-error tables (see module docstring)."""
    df, units = read_any_table(path)
    names = list(df.columns)
    by_base = {_base(n): n for n in names}
    wcol = (
        pick(names, (wave,))
        if wave
        else next((by_base[b] for b in WAVE if b in by_base), None)
    )
    if wcol is None:
        for n in names:
            if n.lower().startswith(WAVE):
                wcol = n
                break
    fcol = (
        pick(names, (flux,))
        if flux
        else next((by_base[b] for b in FLUX if b in by_base), None)
    )
    ecol = (
        pick(names, (error,))
        if error
        else next((by_base[b] for b in ERROR if b in by_base), None)
    )
    missing = [w for w, c in (("wavelength", wcol), ("flux", fcol)) if c is None]
    if error and ecol is None:
        missing.append(error)
    if missing:
        raise StarlabelInputError(
            f"missing column(s) {', '.join(missing)}; have {', '.join(map(str, names))}",
            path=path,
        )
    unit_text = wavelength_unit or units.get(wcol) or _unit_in_name(wcol)
    unit = length_unit(unit_text, what=f"column {wcol}", path=path)
    if unit is None:
        raise StarlabelInputError(
            f"wavelength column {wcol!r} has no unit; name it e.g. 'wavelength [Angstrom]' "
            "or pass --wavelength-unit",
            path=path,
        )
    ekind = error_kind or (guess_error_kind(ecol) if ecol else None)
    idcol = pick(names, (id_column,)) if id_column else pick(names, IDS)
    if id_column and idcol is None:
        raise StarlabelInputError(f"no id column {id_column!r}", path=path)
    stem = path.name.split(".")[0]
    groups = df.groupby(df[idcol].astype(str), sort=False) if idcol else [(stem, df)]
    for sid, part in groups:
        sid = str(sid)
        try:
            wl = to_angstrom(np.concatenate([np.ravel(v) for v in part[wcol]]), unit)
            fx = np.concatenate([np.ravel(v) for v in part[fcol]]).astype(float)
            if ecol is None:
                from ._common import ivar_from_flux

                iv, meta = ivar_from_flux(fx), {"noise_unknown": True}
            else:
                ev = np.concatenate([np.ravel(v) for v in part[ecol]]).astype(float)
                iv, meta = ivar_from(ev, ekind, path=path, star=sid), {}
            yield RawSpectrum(wl, fx, iv, sid, path, medium, "", meta)
        except StarlabelInputError as err:
            yield err.with_context(path=path, star=sid)
