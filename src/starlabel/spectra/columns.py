"""Checks and conversions that turn the inputs of a ``Spectra`` into its arrays.

Every function raises ``ValueError`` naming the argument, what was expected and
what was received; the container calls them in a fixed order, so the first
problem of an input is the one reported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import astropy.units as u
import numpy as np

from .._typing import ArrayLike
from .labels import label_spec
from .snr import der_snr

__all__ = [
    "MEDIA",
    "as_flux",
    "as_wavelength",
    "as_ivar",
    "check_medium",
    "meta_columns",
    "float_columns",
    "check_error_labels",
    "units_of",
    "check_same_grid",
    "merge_columns",
]

MEDIA = ("air", "vacuum")


def _as_str_array(values: ArrayLike) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind == "S":
        arr = np.char.decode(arr, "utf-8")
    return arr.astype(str)


def _column(values: ArrayLike, n: int, what: str, dtype: Any = None) -> np.ndarray:
    arr = np.asarray(values, dtype=dtype)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"{what}: expected shape ({n},), got {arr.shape}")
    return arr


def as_flux(flux: ArrayLike) -> np.ndarray:
    """``(n_spectra, n_pixels)`` float32 flux (one spectrum may be 1-D)."""
    flux = np.asarray(flux, dtype=np.float32)
    if flux.ndim == 1:
        flux = flux[None, :]
    if flux.ndim != 2:
        raise ValueError(
            f"flux: expected (n_spectra, n_pixels), got shape {flux.shape}"
        )
    return flux


def as_wavelength(wavelength: u.Quantity, n_pixels: int) -> np.ndarray:
    """The grid as float64 Angstrom: a length Quantity, finite, strictly increasing."""
    if not isinstance(wavelength, u.Quantity):
        raise ValueError(
            "wavelength: expected an astropy Quantity with a length unit "
            "(e.g. wave * u.AA), got unit-less values"
        )
    try:
        wl = wavelength.to_value(u.AA, equivalencies=u.spectral())
    except u.UnitConversionError as exc:
        raise ValueError(f"wavelength: unit {wavelength.unit} is not a length") from exc
    wl = np.asarray(wl, dtype=np.float64)
    p = n_pixels
    if wl.ndim != 1 or wl.shape[0] != p:
        raise ValueError(f"wavelength: expected shape ({p},), got {wl.shape}")
    if not np.all(np.isfinite(wl)) or (p > 1 and not np.all(np.diff(wl) > 0)):
        raise ValueError("wavelength: must be finite and strictly increasing")
    return wl


def _estimated_ivar(flux: np.ndarray) -> np.ndarray:
    """A constant noise per spectrum from DER_SNR and the median flux level."""
    snr = der_snr(flux)
    level = np.nanmedian(np.where(np.isfinite(flux), flux, np.nan), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        sig = np.abs(level) / snr
        iv = np.where(np.isfinite(sig) & (sig > 0), 1.0 / sig**2, 0.0)
    return np.repeat(iv[:, None], flux.shape[1], axis=1)


def as_ivar(
    ivar: ArrayLike | None,
    flux: np.ndarray,
    meta: Mapping[str, ArrayLike] | None,
) -> np.ndarray:
    """float32 inverse variance shaped like ``flux``, 0 where the flux is not finite.

    ``None`` estimates it (:func:`_estimated_ivar`); ``meta`` only names the star
    of a negative value.
    """
    if ivar is None:
        ivar = _estimated_ivar(flux)
    ivar = np.asarray(ivar, dtype=np.float32)
    if ivar.shape != flux.shape:
        raise ValueError(f"ivar: expected shape {flux.shape}, got {ivar.shape}")
    if not np.all(np.isfinite(ivar)):
        raise ValueError("ivar: contains NaN or infinite values (use 0 to mask)")
    if np.any(ivar < 0):
        n = flux.shape[0]
        bad = int(np.flatnonzero((ivar < 0).any(axis=1))[0])
        ids = (meta or {}).get("id")
        who = f" (id {ids[bad]})" if ids is not None and len(ids) > bad else ""
        raise ValueError(
            f"ivar: negative inverse variance in spectrum {bad} of these {n}{who}"
        )
    bad_flux = ~np.isfinite(flux)
    if bad_flux.any():
        ivar = np.where(bad_flux, np.float32(0), ivar)
    return ivar


def check_medium(medium: str) -> None:
    if medium not in MEDIA:
        raise ValueError(f"medium: expected 'air' or 'vacuum', got {medium!r}")


def meta_columns(meta: Mapping[str, ArrayLike] | None, n: int) -> dict[str, np.ndarray]:
    """Meta columns of length ``n``, text as ``str``; ``id`` first, unique, and
    generated as ``star-000000``... when absent."""
    meta_d: dict[str, np.ndarray] = {}
    for key, values in (meta or {}).items():
        arr = _column(values, n, f"meta[{key!r}]")
        if arr.dtype.kind in "USO":
            arr = _as_str_array(arr)
        meta_d[str(key)] = arr
    if "id" not in meta_d:
        meta_d["id"] = np.array([f"star-{i:06d}" for i in range(n)])
    ids = meta_d["id"]
    if len(np.unique(ids)) != n:
        vals, counts = np.unique(ids, return_counts=True)
        dup = ", ".join(vals[counts > 1][:5])
        raise ValueError(f"meta['id']: ids must be unique; duplicated: {dup}")
    return {"id": ids, **{k: v for k, v in meta_d.items() if k != "id"}}


def float_columns(
    columns: Mapping[str, ArrayLike] | None, n: int, what: str, dtype: Any
) -> dict[str, np.ndarray]:
    """Numeric columns of length ``n`` whose names are label names."""
    out = {}
    for key, values in (columns or {}).items():
        label_spec(str(key))  # validates the name
        out[str(key)] = _column(values, n, f"{what}[{key!r}]", dtype)
    return out


def check_error_labels(labels: Mapping[str, Any], **errors: Mapping[str, Any]) -> None:
    """Every uncertainty column (``labels_err=``, ``labels_crlb=``) is of a label."""
    for what, d in errors.items():
        unknown = set(d) - set(labels)
        if unknown:
            raise ValueError(f"{what}: no label named {sorted(unknown)}")


def units_of(
    labels: Mapping[str, Any], label_units: Mapping[str, str] | None
) -> dict[str, str]:
    """The unit of each label: the given one, else the default of its name."""
    units = {name: label_spec(name).unit for name in labels}
    units.update({k: str(v) for k, v in (label_units or {}).items() if k in labels})
    return units


def check_same_grid(parts: Sequence[Any]) -> None:
    """Every part on the first part's grid and in its medium (``concatenate``)."""
    first = parts[0]
    for i, other in enumerate(parts[1:], start=1):
        if other.n_pixels != first.n_pixels or not np.allclose(
            other.wavelength_aa,
            first.wavelength_aa,
            rtol=0,
            atol=1e-9 * first.wavelength_aa.max(),
        ):
            raise ValueError(
                f"parts[{i}]: wavelength grid differs from parts[0]; resample first"
            )
        if other.medium != first.medium:
            raise ValueError(
                f"parts[{i}]: medium {other.medium!r} differs from {first.medium!r}"
            )


def merge_columns(
    parts: Sequence[Any], attr: str, fill_float: float = np.nan
) -> dict[str, np.ndarray]:
    """The columns ``attr`` of all parts joined; a column missing from a part is
    filled with ``fill_float`` (empty strings for text)."""
    keys: list[str] = []
    for p in parts:
        keys += [k for k in getattr(p, attr) if k not in keys]
    out = {}
    for k in keys:
        cols = []
        for p in parts:
            d = getattr(p, attr)
            if k in d:
                cols.append(d[k])
            else:
                like = next(getattr(q, attr)[k] for q in parts if k in getattr(q, attr))
                fill: Any = "" if like.dtype.kind == "U" else fill_float
                dt = like.dtype if like.dtype.kind in "Uf" else np.float64
                cols.append(np.full(p.n_spectra, fill, dtype=dt))
        out[k] = np.concatenate(cols)
    return out
