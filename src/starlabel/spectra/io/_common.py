"""Helpers shared by the readers: opening FITS files, units, ids, error columns."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import astropy.units as u
import numpy as np
from astropy.io import fits

from ...errors import StarlabelInputError
from ..snr import der_snr

FITS_EXTENSIONS = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz")


def has_extension(path: Path, extensions: Sequence[str]) -> bool:
    name = path.name.lower()
    return any(name.endswith(ext) for ext in extensions)


@contextlib.contextmanager
def open_fits(path: Path) -> Iterator[fits.HDUList]:
    """Open a FITS file, turning empty or truncated files into one-line errors."""
    if path.stat().st_size == 0:
        raise StarlabelInputError("empty file", path=path)
    hdul = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # astropy warns about non-standard headers
            hdul = fits.open(path, memmap=False)
            hdul.verify("silentfix+ignore")
            for hdu in hdul:  # force reading: a truncated file fails here, not later
                _ = hdu.data
    except (OSError, TypeError, ValueError) as exc:
        if hdul is not None:
            hdul.close()
        raise StarlabelInputError(
            f"not a readable FITS file (empty or truncated?): {' '.join(str(exc).split())}",
            path=path,
        ) from exc
    try:
        yield hdul
    finally:
        hdul.close()


def fits_headers(path: Path, max_hdus: int = 16) -> list[fits.Header]:
    """The headers of the first HDUs of a FITS file, for content identification.

    Reads headers only (no data). Returns ``[]`` for anything that is not a
    readable FITS file, so ``identify`` functions never raise.
    """
    headers: list[fits.Header] = []
    try:
        st = path.stat()
        if st.st_size == 0:
            return []
        # several identify functions ask for the same file in a row: read it once
        key = (str(path), st.st_mtime_ns, st.st_size, st.st_ino, max_hdus)
        if _LAST_HEADERS[0] == key:
            return list(_LAST_HEADERS[1])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with fits.open(path, memmap=False, lazy_load_hdus=True) as hdul:
                for i, hdu in enumerate(hdul):
                    if i >= max_hdus:
                        break
                    headers.append(hdu.header.copy())
    except Exception:  # noqa: BLE001 - identification must not raise on odd files
        return headers
    _LAST_HEADERS[:] = [key, headers]
    return list(headers)


_LAST_HEADERS: list[Any] = [None, []]


def table_columns(header: fits.Header) -> list[str]:
    """Column names of a binary-table HDU header (``TTYPEn``); [] for other HDUs."""
    if str(header.get("XTENSION", "")).strip().upper() not in ("BINTABLE", "TABLE"):
        return []
    n = int(header.get("TFIELDS", 0) or 0)
    return [str(header.get(f"TTYPE{k}", "")).strip() for k in range(1, n + 1)]


def check_csv_rows(
    path: Path, *, delimiter: str = ",", require_final_newline: bool = False
) -> int:
    """Refuse a delimited text table with incomplete rows (a truncated file).

    Every data row must have as many fields as the header (lines starting with
    ``#`` and blank lines are skipped); with ``require_final_newline`` the file must
    also end with a line break, as every file starlabel writes does, so a row cut
    inside its last field is caught too.

    Returns:
        the number of data rows.

    Raises:
        StarlabelInputError: naming the file, the row (1-based, header excluded),
            its line and, when readable, the star id in its first field.
    """
    import csv

    with path.open("r", encoding="utf-8", errors="replace", newline="") as fh:
        lines = (line for line in fh if line.strip() and not line.startswith("#"))
        reader = csv.reader(lines, delimiter=delimiter)
        header = next(reader, None)
        if header is None:
            raise StarlabelInputError(
                "no header line: an empty or truncated table", path=path
            )
        n_rows = 0
        last: list[str] = []
        for row in reader:
            n_rows += 1
            last = row
            if len(row) != len(header):
                star = row[0].strip() if row and row[0].strip() else None
                raise StarlabelInputError(
                    f"row {n_rows} has {len(row)} fields, the header {len(header)}: "
                    "incomplete or malformed row (truncated file?)",
                    path=path,
                    star=star,
                )
    if require_final_newline and n_rows:
        with path.open("rb") as fh:
            fh.seek(-1, 2)
            if fh.read(1) not in (b"\n", b"\r"):
                star = last[0].strip() if last and last[0].strip() else None
                raise StarlabelInputError(
                    f"row {n_rows} is incomplete: the file ends inside it (truncated?)",
                    path=path,
                    star=star,
                )
    return n_rows


def length_unit(text: str | None, *, what: str, path: Path) -> u.UnitBase | None:
    """Parse a wavelength unit string; ``None`` for an empty one."""
    if text is None or not str(text).strip():
        return None
    clean = str(text).strip()
    aliases = {
        "angstrom": "Angstrom",
        "angstroms": "Angstrom",
        "a": "Angstrom",
        "aa": "Angstrom",
        "nm": "nm",
        "nanometer": "nm",
        "um": "um",
        "micron": "um",
        "microns": "um",
    }
    clean = aliases.get(clean.lower(), clean)
    try:
        unit = u.Unit(clean)
        unit.to(u.AA)
    except (ValueError, u.UnitConversionError) as exc:
        raise StarlabelInputError(
            f"{what}: unit {text!r} is not a length", path=path
        ) from exc
    return unit


def to_angstrom(values: Any, unit: u.UnitBase) -> np.ndarray:
    return np.asarray(values, dtype=np.float64) * unit.to(u.AA)


def header_id(header: fits.Header, keywords: Sequence[str], fallback: str) -> str:
    for key in keywords:
        value = header.get(key)
        if value is not None and str(value).strip():
            return str(value).strip()
    return fallback


def ivar_from(values: np.ndarray, kind: str, *, path: Path, star: str) -> np.ndarray:
    """Inverse variance from an error-like array: ``ivar``, ``variance`` or ``sigma``."""
    v = np.asarray(values, dtype=np.float64)
    if kind == "ivar":
        return v
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind == "variance":
            out = np.where(v > 0, 1.0 / v, 0.0)
        elif kind == "sigma":
            out = np.where(v > 0, 1.0 / v**2, 0.0)
        else:
            raise ValueError(
                f"error kind: expected ivar, variance or sigma, got {kind!r}"
            )
    if np.any(v < 0):
        raise StarlabelInputError(f"negative {kind} values", path=path, star=star)
    return np.where(np.isfinite(out), out, 0.0)


def ivar_from_flux(flux: np.ndarray) -> np.ndarray:
    """A constant inverse variance from the DER_SNR noise, for files without errors."""
    fx = np.asarray(flux, dtype=np.float64)
    snr = float(der_snr(fx)[0])
    level = float(np.nanmedian(fx)) if np.isfinite(fx).any() else np.nan
    sigma = abs(level) / snr if np.isfinite(snr) and snr > 0 else np.nan
    iv = 1.0 / sigma**2 if np.isfinite(sigma) and sigma > 0 else 1.0
    return np.where(np.isfinite(fx), iv, 0.0)


def guess_error_kind(name: str) -> str:
    """Guess what an error column or extension holds from its name."""
    n = name.upper()
    if "IVAR" in n or "INVVAR" in n or "INV_VAR" in n or n.startswith("WEIGHT"):
        return "ivar"
    if n.startswith("VAR") or "VARIANCE" in n:
        return "variance"
    return "sigma"


def pick(names: Sequence[str], candidates: Sequence[str]) -> str | None:
    """The first candidate present in ``names`` (case-insensitive); its real spelling."""
    upper = {n.upper(): n for n in names}
    for c in candidates:
        if c.upper() in upper:
            return upper[c.upper()]
    return None
