"""APOGEE spectra: apStar (``--format apogee-apstar``) and apVisit (``apogee-apvisit``).

apStar: HDU1 flux, HDU2 error (1 sigma), HDU3 pixel bit mask, each with one row per
visit after two combined rows (row 0, the pixel-weighted combination, is read by
default); log-linear wavelength WCS in the headers (``CRVAL1``, ``CDELT1`` in
log10 Angstrom, ``CRPIX1``); vacuum wavelengths, H band (about 15 100-17 000 A).
Files with a single visit have one row.

apVisit: three chips, each with its own wavelength array (HDU4), flux (HDU1),
error (HDU2) and mask (HDU3); the chips are joined in increasing wavelength with the
gaps between them left empty.

Pixels whose mask has any of ``bad_bits`` set (default: BADPIX, CRPIX, SATPIX,
UNFIXABLE, BADDARK, BADFLAT, BADERR, NOSKY = bits 0-7 of APOGEE_PIXMASK), zero or
non-finite flux, or a non-positive error are masked (ivar = 0). Fluxes are never
continuum-normalised, so ``starlabel prepare`` normalises both formats by default with
the ``percentile`` method (``--normalise`` chooses another, ``--normalise none`` keeps
the flux as it is) and says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ...errors import StarlabelInputError
from ..raw import RawSpectrum
from ._common import (
    FITS_EXTENSIONS,
    fits_headers,
    has_extension,
    header_id,
    ivar_from,
    open_fits,
)
from .registry import register_reader

DEFAULT_BAD_BITS = tuple(range(8))
ID_KEYWORDS = ("OBJID", "APOGEE_ID", "OBJECT")


def _is_apogee(path: Path, visit: bool) -> bool:
    """By the headers, never the file name.

    apStar: a log-linear wavelength WCS (``CTYPE1 = 'LOG-LINEAR'``) with ``NWAVE`` in
    the primary header. apVisit: ``FIBERID`` and ``PLATE`` or ``MJD5`` in the primary
    header and a first extension holding three chips (NAXIS2 = 3).
    """
    if not has_extension(path, FITS_EXTENSIONS):
        return False
    headers = fits_headers(path, max_hdus=2)
    if not headers:
        return False
    h0 = headers[0]
    if visit:
        return (
            "FIBERID" in h0
            and ("PLATE" in h0 or "MJD5" in h0)
            and len(headers) > 1
            and int(headers[1].get("NAXIS", 0) or 0) == 2
            and int(headers[1].get("NAXIS2", 0) or 0) == 3
        )
    return str(h0.get("CTYPE1", "")).upper() == "LOG-LINEAR" and "NWAVE" in h0


def _mask_to_bad(mask: np.ndarray, bad_bits: tuple[int, ...]) -> np.ndarray:
    bits = 0
    for b in bad_bits:
        bits |= 1 << int(b)
    return (np.asarray(mask).astype(np.int64) & bits) != 0


def _finish(flux, err, mask, bad_bits, path, star):
    flux = np.asarray(flux, dtype=np.float64)
    ivar = ivar_from(
        np.where(np.isfinite(err), err, 0.0), "sigma", path=path, star=star
    )
    bad = ~np.isfinite(flux) | (flux == 0)
    if mask is not None:
        bad |= _mask_to_bad(mask, bad_bits)
    return flux, np.where(bad, 0.0, ivar)


@register_reader(
    "apogee-apstar",
    extensions=FITS_EXTENSIONS,
    priority=10,
    identify=lambda p: _is_apogee(p, visit=False),
    normalise="percentile",
    description="APOGEE apStar combined spectra (log-lambda WCS, flux/error/mask HDUs)",
)
def read_apstar(
    path: Path, *, row: int = 0, bad_bits: tuple[int, ...] = DEFAULT_BAD_BITS
) -> Iterator[RawSpectrum | StarlabelInputError]:
    """Read the combined spectrum (``row``) of an apStar file."""
    with open_fits(path) as hdul:
        h0 = hdul[0].header
        star = header_id(h0, ID_KEYWORDS, path.name.split(".")[0])
        if len(hdul) < 3:
            raise StarlabelInputError(
                "apStar file needs flux, error and mask HDUs (1-3)",
                path=path,
                star=star,
            )
        flux = np.atleast_2d(hdul[1].data)
        err = np.atleast_2d(hdul[2].data)
        mask = (
            np.atleast_2d(hdul[3].data)
            if len(hdul) > 3 and hdul[3].data is not None
            else None
        )
        if row >= flux.shape[0]:
            raise StarlabelInputError(
                f"row {row} requested but the file has {flux.shape[0]}",
                path=path,
                star=star,
            )
        hdr = hdul[1].header if "CRVAL1" in hdul[1].header else h0
        if "CRVAL1" not in hdr or "CDELT1" not in hdr:
            raise StarlabelInputError(
                "no log-lambda WCS (CRVAL1, CDELT1)", path=path, star=star
            )
        pix = np.arange(flux.shape[1], dtype=np.float64) + 1.0 - hdr.get("CRPIX1", 1.0)
        wl = 10.0 ** (hdr["CRVAL1"] + hdr["CDELT1"] * pix)
        fx, iv = _finish(
            flux[row],
            err[row],
            None if mask is None else mask[row],
            bad_bits,
            path,
            star,
        )
        meta = {
            "snr_header": float(h0.get("SNR", np.nan)),
            "telescope": str(h0.get("TELESCOP", "")).strip(),
        }
        for key in ("RA", "DEC", "J", "H", "K"):
            if key in h0:
                meta[key.lower()] = float(h0[key])
        yield RawSpectrum(wl, fx, iv, star, path, "vacuum", "apogee", meta)


@register_reader(
    "apogee-apvisit",
    extensions=FITS_EXTENSIONS,
    priority=10,
    identify=lambda p: _is_apogee(p, visit=True),
    normalise="percentile",
    description="APOGEE apVisit single-visit spectra (three chips, wavelength HDU)",
)
def read_apvisit(
    path: Path, *, bad_bits: tuple[int, ...] = DEFAULT_BAD_BITS
) -> Iterator[RawSpectrum | StarlabelInputError]:
    """Read the three chips of an apVisit file as one spectrum."""
    with open_fits(path) as hdul:
        h0 = hdul[0].header
        star = header_id(h0, ID_KEYWORDS, path.name.split(".")[0])
        if len(hdul) < 5:
            raise StarlabelInputError(
                "apVisit file needs flux, error, mask and wavelength HDUs (1-4)",
                path=path,
                star=star,
            )
        flux, err, mask, wave = (np.atleast_2d(hdul[i].data) for i in (1, 2, 3, 4))
        fx, iv = _finish(flux.ravel(), err.ravel(), mask.ravel(), bad_bits, path, star)
        wl = np.asarray(wave, dtype=np.float64).ravel()
        order = np.argsort(wl, kind="stable")
        meta = {"snr_header": float(h0.get("SNR", np.nan))}
        for key in ("VHELIO", "RA", "DEC", "JD-MID"):
            if key in h0:
                meta[key.lower().replace("-", "_")] = float(h0[key])
        yield RawSpectrum(
            wl[order], fx[order], iv[order], star, path, "vacuum", "apogee", meta
        )
