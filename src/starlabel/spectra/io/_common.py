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
from ..container import der_snr

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
