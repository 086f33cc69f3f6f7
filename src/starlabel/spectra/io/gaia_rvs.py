"""Gaia DR3 RVS mean spectra as delivered by the archive (``--format gaia-rvs``).

Accepted layouts, CSV or FITS:

* one row per star with a ``source_id`` and array cells ``flux``, ``flux_error``
  and optionally ``wavelength`` (CSV cells written as ``"[0.98, 0.97, ...]"`` or
  ``"(0.98,0.97,...)"``); without a wavelength column the DR3 grid is used:
  846-870 nm in 0.01 nm steps (2401 pixels);
* one row per pixel with scalar ``wavelength``, ``flux``, ``flux_error`` columns
  (the archive's per-source files), grouped by ``source_id`` when present.

Wavelengths are in nm (converted to Angstrom) and in vacuum; ``flux_error`` is one
sigma. NaN fluxes at the grid ends are masked.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from astropy.table import Table

from ...errors import StarlabelInputError
from ..raw import RawSpectrum
from ._common import (
    FITS_EXTENSIONS,
    fits_headers,
    has_extension,
    ivar_from,
    length_unit,
    open_fits,
    pick,
    table_columns,
    to_angstrom,
)
from .registry import register_reader

DR3_WAVELENGTH_NM = np.round(np.arange(846.0, 870.0 + 1e-9, 0.01), 2)
_NUM = re.compile(
    r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|NaN|null", re.IGNORECASE
)


def _parse_cell(value) -> np.ndarray:
    if isinstance(value, str):
        tokens = _NUM.findall(value)
        return np.array(
            [float(t) if t.lower() not in ("null",) else np.nan for t in tokens]
        )
    return np.asarray(value, dtype=np.float64).ravel()


def _gaia_columns(cols: list[str]) -> bool:
    low = {c.strip().strip('"').lower() for c in cols}
    return {"flux", "flux_error"} <= low and bool({"source_id", "wavelength"} & low)


def _identify(path: Path) -> bool:
    """By content: a table with ``flux``, ``flux_error`` and ``source_id`` or ``wavelength``.

    FITS files of ESO origin (``ORIGIN = 'ESO'`` or a ``CNAME``) are left to the
    ``ges`` reader even with such columns. The file name is not looked at.
    """
    name = path.name.lower()
    if has_extension(path, FITS_EXTENSIONS):
        headers = fits_headers(path)
        if not headers:
            return False
        h0 = headers[0]
        if str(h0.get("ORIGIN", "")).strip().upper() == "ESO" or "CNAME" in h0:
            return False
        return any(_gaia_columns(table_columns(h)) for h in headers[1:])
    if name.endswith((".csv", ".ecsv", ".csv.gz")):
        import gzip

        try:
            opener = gzip.open if name.endswith(".gz") else open
            with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    if line.startswith("#") or not line.strip():
                        continue
                    return _gaia_columns(line.split(","))
        except (OSError, EOFError):
            return False
    return False


def _read_table(path: Path) -> Table:
    if has_extension(path, FITS_EXTENSIONS):
        with open_fits(path) as hdul:
            for hdu in hdul:
                if hasattr(hdu, "columns") and hdu.data is not None:
                    return Table(hdu.data, meta=dict(hdu.header))
        raise StarlabelInputError("no table HDU", path=path)
    if path.stat().st_size == 0:
        raise StarlabelInputError("empty file", path=path)
    fmt = "ascii.ecsv" if path.name.lower().endswith(".ecsv") else "ascii.csv"
    try:
        return Table.read(path, format=fmt, comment="#")
    except Exception as exc:  # astropy raises many types for malformed text
        raise StarlabelInputError(
            f"not a readable table: {' '.join(str(exc).split())[:200]}", path=path
        ) from exc


@register_reader(
    "gaia-rvs",
    extensions=(".csv", ".ecsv", *FITS_EXTENSIONS),
    identify=_identify,
    priority=20,
    description="Gaia DR3 RVS mean spectra (CSV or FITS, array or per-pixel rows)",
)
def read_gaia_rvs(path: Path) -> Iterator[RawSpectrum | StarlabelInputError]:
    """Read Gaia DR3 RVS spectra."""
    table = _read_table(path)
    names = table.colnames
    fcol, ecol = pick(names, ("flux",)), pick(names, ("flux_error",))
    if fcol is None or ecol is None:
        raise StarlabelInputError(
            f"needs columns flux and flux_error; have {', '.join(names)}", path=path
        )
    wcol, idcol = pick(names, ("wavelength",)), pick(names, ("source_id",))
    unit = None
    if wcol is not None:
        unit = length_unit(
            str(table[wcol].unit) if table[wcol].unit is not None else None,
            what="wavelength",
            path=path,
        )
    import astropy.units as u

    unit = unit or u.nm
    per_pixel = (
        len(table) > 0
        and np.ndim(table[fcol][0]) == 0
        and not isinstance(table[fcol][0], str)
    )
    if per_pixel:
        if wcol is None:
            raise StarlabelInputError(
                "per-pixel table without a wavelength column", path=path
            )
        ids = (
            np.asarray(table[idcol]).astype(str)
            if idcol
            else np.full(len(table), path.name.split(".")[0])
        )
        for sid in dict.fromkeys(ids.tolist()):
            sel = ids == sid
            try:
                wl = to_angstrom(np.asarray(table[wcol][sel], dtype=float), unit)
                fx = np.asarray(table[fcol][sel], dtype=float)
                iv = ivar_from(
                    np.asarray(table[ecol][sel], dtype=float),
                    "sigma",
                    path=path,
                    star=sid,
                )
                yield RawSpectrum(wl, fx, iv, sid, path, "vacuum", "gaia-rvs", {})
            except StarlabelInputError as err:
                yield err.with_context(path=path, star=sid)
        return
    for i in range(len(table)):
        sid = str(table[idcol][i]) if idcol else f"{path.name.split('.')[0]}-{i}"
        try:
            fx = _parse_cell(table[fcol][i])
            err = _parse_cell(table[ecol][i])
            if wcol is not None:
                wl = to_angstrom(_parse_cell(table[wcol][i]), unit)
            elif fx.size == DR3_WAVELENGTH_NM.size:
                wl = to_angstrom(DR3_WAVELENGTH_NM, u.nm)
            else:
                raise StarlabelInputError(
                    f"no wavelength column and {fx.size} pixels (the DR3 grid has {DR3_WAVELENGTH_NM.size})",
                    path=path,
                    star=sid,
                )
            iv = ivar_from(
                np.where(np.isfinite(err), err, 0.0), "sigma", path=path, star=sid
            )
            yield RawSpectrum(wl, fx, iv, sid, path, "vacuum", "gaia-rvs", {})
        except StarlabelInputError as err:
            yield err.with_context(path=path, star=sid)
