"""ESO Phase 3 / Gaia-ESO 1D spectra in FITS (``--format ges``).

Two layouts are accepted:

* **binary table** (ESO Phase 3 ``SPECTRUM``): a table HDU whose rows hold array
  columns, e.g. ``WAVE``, ``FLUX``, ``ERR`` or ``FLUX_NORM``, ``IVAR``. One row per
  star (an id column such as ``CNAME`` names them), or one spectrum spread over rows
  with scalar columns (one row per pixel).
* **image** with a linear (or log-linear) WCS: ``CRVAL1``, ``CDELT1`` or ``CD1_1``,
  ``CRPIX1`` (default 1), ``CUNIT1`` (default Angstrom), flux in the primary HDU (or
  the extension named by ``flux``), inverse variance / variance / sigma in an
  extension found by name (``IVAR``, ``VARIANCE``, ``ERR``...). A 2D image holds
  one star per row.

Column and extension names are options; the error kind (inverse variance, variance
or sigma) is read from the name unless ``error_kind`` is given. When the flux is the
normalised one (``FLUX_NORM``) but the error belongs to the un-normalised ``FLUX``,
the error is rescaled as in Candebat et al. 2024, Eq. 4:
``sigma_norm = sigma * FLUX_NORM / FLUX``. Wavelengths without a unit are taken as
Angstrom (the ESO and Gaia-ESO convention) and checked for plausibility.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.io import fits

from ...errors import StarlabelInputError
from ..raw import RawSpectrum
from ._common import (
    FITS_EXTENSIONS,
    fits_headers,
    guess_error_kind,
    has_extension,
    header_id,
    ivar_from,
    ivar_from_flux,
    length_unit,
    open_fits,
    pick,
    table_columns,
    to_angstrom,
)
from .registry import register_reader

WAVE_COLUMNS = ("WAVE", "WAVELENGTH", "LAMBDA", "WAVE_AIR", "WAVE_VAC")
FLUX_COLUMNS = ("FLUX_NORM", "NORM_FLUX", "FLUX_NORMALIZED", "FLUX", "FLUX_REDUCED")
ERROR_COLUMNS = (
    "IVAR_NORM",
    "ERR_NORM",
    "IVAR",
    "INVVAR",
    "ERR",
    "ERROR",
    "SIGMA",
    "FLUX_ERROR",
    "ERR_REDUCED",
    "VARIANCE",
    "VAR",
    "NOISE",
)
ID_COLUMNS = ("CNAME", "ID", "OBJECT", "OBJID", "SOURCE_ID", "STAR_ID")
ID_KEYWORDS = ("CNAME", "OBJECT", "OBJID", "OBJ_ID", "TARGNAME")
SETUP_KEYWORDS = ("SETUP", "ESO INS EXP MODE", "ESO INS FILT NAME", "INSMODE")


def _setup_of(header: fits.Header) -> str:
    return header_id(header, SETUP_KEYWORDS, "")


def _identify(path: Path) -> bool:
    """By content (asked after the more specific readers): a binary table with a
    wavelength and a flux column, or an image with a wavelength WCS (``CRVAL1`` and
    ``CDELT1`` or ``CD1_1``) in its own or the primary header. The file name only
    has to be a FITS one."""
    if not has_extension(path, FITS_EXTENSIONS):
        return False
    headers = fits_headers(path)
    if not headers:
        return False
    h0 = headers[0]
    for h in headers:
        cols = table_columns(h)
        if cols:
            if pick(cols, WAVE_COLUMNS) and pick(cols, FLUX_COLUMNS):
                return True
            continue
        if int(h.get("NAXIS", 0) or 0) in (1, 2):
            wcs = h if "CRVAL1" in h else h0
            if "CRVAL1" in wcs and ("CDELT1" in wcs or "CD1_1" in wcs):
                return True
    return False


@register_reader(
    "ges",
    extensions=FITS_EXTENSIONS,
    identify=_identify,
    priority=90,
    description="ESO Phase 3 / Gaia-ESO 1D spectra (binary table or image + WCS)",
)
def read_eso(
    path: Path,
    *,
    layout: str = "auto",
    wave: str | None = None,
    flux: str | None = None,
    error: str | None = None,
    error_kind: str | None = None,
    id_keywords: Sequence[str] = ID_KEYWORDS,
    medium: str = "air",
) -> Iterator[RawSpectrum | StarlabelInputError]:
    """Read ESO Phase 3 / Gaia-ESO spectra (see the module docstring for layouts).

    Args:
        path: FITS file.
        layout: ``"auto"``, ``"table"`` or ``"image"``.
        wave, flux, error: column (table) or extension (image) names overriding the
            defaults.
        error_kind: ``"ivar"``, ``"variance"`` or ``"sigma"``; guessed from the name.
        id_keywords: header keywords tried, in order, for the star id.
        medium: ``"air"`` (GIRAFFE, UVES) or ``"vacuum"``.
    """
    if layout not in ("auto", "table", "image"):
        raise ValueError(f"layout: expected auto, table or image, got {layout!r}")
    with open_fits(path) as hdul:
        fallback = path.name.split(".")[0]
        star = header_id(hdul[0].header, id_keywords, fallback)
        setup = _setup_of(hdul[0].header)
        tables = [
            h for h in hdul if isinstance(h, fits.BinTableHDU) and h.data is not None
        ]
        use_table = layout == "table" or (
            layout == "auto"
            and any(
                pick(h.columns.names, (wave,) if wave else WAVE_COLUMNS) for h in tables
            )
        )
        if use_table:
            yield from _read_table(
                path, hdul, tables, star, setup, wave, flux, error, error_kind, medium
            )
        else:
            yield from _read_image(
                path, hdul, star, setup, flux, error, error_kind, medium
            )


def _read_table(path, hdul, tables, star, setup, wave, flux, error, kind, medium):
    for hdu in tables:
        names = hdu.columns.names
        wcol = pick(names, (wave,) if wave else WAVE_COLUMNS)
        if wcol is not None:
            break
    else:
        raise StarlabelInputError(
            f"no wavelength column (looked for {wave or ', '.join(WAVE_COLUMNS)})",
            path=path,
            star=star,
        )
    fcol = pick(names, (flux,) if flux else FLUX_COLUMNS)
    if fcol is None:
        raise StarlabelInputError(
            f"no flux column (looked for {flux or ', '.join(FLUX_COLUMNS)}; have {', '.join(names)})",
            path=path,
            star=star,
        )
    ecol = pick(names, (error,) if error else ERROR_COLUMNS)
    if error and ecol is None:
        raise StarlabelInputError(
            f"no error column {error!r}; have {', '.join(names)}", path=path, star=star
        )
    unit = length_unit(hdu.columns[wcol].unit, what=f"column {wcol}", path=path) or u.AA
    data = hdu.data
    raw_flux_col = pick(names, ("FLUX",)) if "NORM" in fcol.upper() else None
    rescale = (
        ecol is not None and "NORM" not in ecol.upper() and raw_flux_col is not None
    )
    ekind = kind or (guess_error_kind(ecol) if ecol else None)
    idcol = pick(names, ID_COLUMNS)
    scalar = np.ndim(data[wcol][0]) == 0
    rows = [None] if scalar else range(len(data))
    for i in rows:
        sid = (
            star
            if (scalar or len(data) == 1)
            else (str(data[idcol][i]).strip() if idcol else f"{star}-{i}")
        )
        try:
            sel = slice(None) if i is None else i
            wl = to_angstrom(np.ravel(data[wcol][sel]), unit)
            fx = np.asarray(np.ravel(data[fcol][sel]), dtype=np.float64)
            if ecol is None:
                iv, meta = ivar_from_flux(fx), {"noise_unknown": True}
            else:
                iv = ivar_from(np.ravel(data[ecol][sel]), ekind, path=path, star=sid)
                meta = {}
                if rescale:
                    raw = np.asarray(
                        np.ravel(data[raw_flux_col][sel]), dtype=np.float64
                    )
                    with np.errstate(divide="ignore", invalid="ignore"):
                        ratio = (
                            raw / fx
                        )  # sigma_norm = sigma * F_norm / F  =>  ivar * (F / F_norm)^2
                        iv = np.where(np.isfinite(ratio), iv * ratio**2, 0.0)
            yield RawSpectrum(wl, fx, iv, sid, path, medium, setup, meta)
        except StarlabelInputError as err:
            yield err.with_context(path=path, star=sid)


def _wcs_wavelength(header: fits.Header, n: int, path: Path, star: str) -> np.ndarray:
    crval = header.get("CRVAL1")
    cdelt = header.get("CDELT1", header.get("CD1_1"))
    if crval is None or cdelt is None:
        raise StarlabelInputError(
            "image has no wavelength WCS (CRVAL1 and CDELT1 or CD1_1)",
            path=path,
            star=star,
        )
    crpix = header.get("CRPIX1", 1.0)
    pix = np.arange(n, dtype=np.float64) + 1.0 - crpix
    ctype = str(header.get("CTYPE1", "")).upper()
    dcflag = header.get("DC-FLAG", 0)
    if "LOG" in ctype or dcflag == 1:
        return 10.0 ** (crval + cdelt * pix)  # log10(lambda / Angstrom) by convention
    unit = length_unit(header.get("CUNIT1"), what="CUNIT1", path=path) or u.AA
    return to_angstrom(crval + cdelt * pix, unit)


def _image_hdus(hdul):
    return [
        (i, h)
        for i, h in enumerate(hdul)
        if isinstance(h, (fits.PrimaryHDU, fits.ImageHDU)) and h.data is not None
    ]


def _read_image(path, hdul, star, setup, flux, error, kind, medium):
    images = _image_hdus(hdul)
    if not images:
        raise StarlabelInputError(
            "no image or table data with a spectrum", path=path, star=star
        )
    by_name = {str(h.header.get("EXTNAME", "")).upper(): (i, h) for i, h in images}

    def named(name: str) -> tuple:
        if name.upper() not in by_name:
            raise StarlabelInputError(
                f"no extension named {name!r}; have {sorted(by_name)}",
                path=path,
                star=star,
            )
        return by_name[name.upper()]

    fi, fh = named(flux) if flux else images[0]
    if error:
        named(error)
        ename = error.upper()
    else:
        ename = pick([n for n in by_name if by_name[n][0] != fi], ERROR_COLUMNS)
    fdata = np.atleast_2d(np.asarray(fh.data, dtype=np.float64))
    if fdata.ndim != 2:
        raise StarlabelInputError(
            f"flux image has {np.ndim(fh.data)} dimensions, expected 1 or 2",
            path=path,
            star=star,
        )
    header = fh.header if "CRVAL1" in fh.header else hdul[0].header
    wl = _wcs_wavelength(header, fdata.shape[1], path, star)
    edata = None
    if ename is not None:
        edata = np.atleast_2d(np.asarray(by_name[ename][1].data, dtype=np.float64))
        if edata.shape != fdata.shape:
            raise StarlabelInputError(
                f"error extension {ename} has shape {edata.shape}, flux {fdata.shape}",
                path=path,
                star=star,
            )
    ekind = kind or (guess_error_kind(ename) if ename else None)
    for i in range(fdata.shape[0]):
        sid = star if fdata.shape[0] == 1 else f"{star}-{i}"
        try:
            if edata is None:
                iv, meta = ivar_from_flux(fdata[i]), {"noise_unknown": True}
            else:
                iv, meta = ivar_from(edata[i], ekind, path=path, star=sid), {}
            yield RawSpectrum(wl.copy(), fdata[i], iv, sid, path, medium, setup, meta)
        except StarlabelInputError as err:
            yield err.with_context(path=path, star=sid)


def write_eso_spectrum(
    path: Path,
    wavelength: np.ndarray,
    flux: np.ndarray,
    ivar: np.ndarray,
    *,
    star: str,
    setup: str = "",
    layout: str = "image",
    header: dict | None = None,
) -> None:
    """Write one spectrum in a layout :func:`read_eso` reads back (atomically).

    ``"image"``: flux in the primary HDU with a linear WCS (the grid must be linear)
    and an ``IVAR`` extension; ``"table"``: one binary-table row with ``WAVE``,
    ``FLUX`` and ``IVAR`` array columns (ESO Phase 3 style). Wavelengths in Angstrom.
    """
    from ..._atomic import atomic_path

    wl = np.asarray(wavelength, dtype=np.float64)
    primary = fits.PrimaryHDU()
    h = primary.header
    h["CNAME"] = star
    if setup:
        h["SETUP"] = setup
    for key, value in (header or {}).items():
        h[key] = value
    if layout == "image":
        step = np.diff(wl)
        if not np.allclose(step, step[0], rtol=1e-6, atol=1e-9):
            raise ValueError(
                "wavelength: the image layout needs a linear grid; use layout='table'"
            )
        primary.data = np.asarray(flux, dtype=np.float32)
        h["CRVAL1"], h["CDELT1"], h["CRPIX1"] = float(wl[0]), float(step[0]), 1.0
        h["CUNIT1"], h["CTYPE1"] = "Angstrom", "AWAV"
        ext = fits.ImageHDU(np.asarray(ivar, dtype=np.float32), name="IVAR")
        hdul = fits.HDUList([primary, ext])
    elif layout == "table":
        n = wl.size
        cols = [
            fits.Column("WAVE", f"{n}D", unit="Angstrom", array=wl[None, :]),
            fits.Column(
                "FLUX", f"{n}E", array=np.asarray(flux, dtype=np.float32)[None, :]
            ),
            fits.Column(
                "IVAR", f"{n}E", array=np.asarray(ivar, dtype=np.float32)[None, :]
            ),
        ]
        hdul = fits.HDUList(
            [primary, fits.BinTableHDU.from_columns(cols, name="SPECTRUM")]
        )
    else:
        raise ValueError(f"layout: expected 'image' or 'table', got {layout!r}")
    with atomic_path(path) as tmp:
        hdul.writeto(tmp, overwrite=True)
