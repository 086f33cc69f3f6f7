"""The checks a dataset file passes before it is read.

Each names the file and the dataset at fault in one line: wrong format or version,
a missing or mis-shaped array, a column of the wrong length or type, a grid that is
not increasing or looks like nm or micron labelled Angstrom.
"""

from __future__ import annotations

from pathlib import Path

import astropy.units as u
import h5py
import numpy as np

from ....errors import StarlabelInputError
from .layout import FORMAT, ROW_GROUPS, VERSION, is_text, read_attr

__all__ = ["check_file", "wrong_unit"]


def check_file(f: h5py.File, path: Path) -> np.ndarray:
    """Check an open dataset file; return its grid in Angstrom.

    Raises:
        StarlabelInputError: naming ``path`` and the problem.
    """
    _check_format(f, path)
    _check_arrays(f, path)
    n = f["flux"].shape[0]
    for group in ROW_GROUPS:
        if group in f:
            _check_group(f, group, n, path)
    if f["meta/id"].dtype.kind not in "OSUiu":
        raise StarlabelInputError(
            f"/meta/id has type {f['meta/id'].dtype}, expected text", path=path
        )
    return _wavelength(f, path)


def _check_format(f: h5py.File, path: Path) -> None:
    fmt = read_attr(f.attrs.get("format", ""))
    if fmt != FORMAT:
        raise StarlabelInputError(
            f"not a starlabel dataset (format attribute {fmt!r}, expected {FORMAT!r}); "
            "make one with `starlabel prepare`",
            path=path,
        )
    try:
        version = int(read_attr(f.attrs.get("version", 0)))
    except (TypeError, ValueError):
        raise StarlabelInputError(
            f"version attribute {f.attrs.get('version')!r} is not a number", path=path
        ) from None
    if version > VERSION:
        raise StarlabelInputError(
            f"dataset format version {version} is newer than this starlabel reads "
            f"({VERSION}); upgrade starlabel",
            path=path,
        )
    if version < 1:
        raise StarlabelInputError(
            f"unknown dataset format version {version}", path=path
        )


def _check_arrays(f: h5py.File, path: Path) -> None:
    """The required datasets, their shapes and types."""
    for name in ("wavelength", "flux", "ivar", "meta/id"):
        if name not in f:
            raise StarlabelInputError(f"missing required dataset /{name}", path=path)
        if not isinstance(f[name], h5py.Dataset):
            raise StarlabelInputError(
                f"/{name} is a group, expected a dataset", path=path
            )
    for name in ("flux", "ivar"):
        ds = f[name]
        if ds.ndim != 2:
            raise StarlabelInputError(
                f"/{name} has shape {ds.shape}, expected (n_spectra, n_pixels)",
                path=path,
            )
        if ds.dtype.kind not in "fiu":
            raise StarlabelInputError(
                f"/{name} has type {ds.dtype}, expected float32", path=path
            )
    n, p = f["flux"].shape
    if f["wavelength"].shape != (p,) or f["ivar"].shape != (n, p):
        raise StarlabelInputError(
            f"/wavelength {f['wavelength'].shape}, /flux {(n, p)} and /ivar "
            f"{f['ivar'].shape} shapes disagree",
            path=path,
        )
    if f["wavelength"].dtype.kind not in "fiu":
        raise StarlabelInputError(
            f"/wavelength has type {f['wavelength'].dtype}, expected float64",
            path=path,
        )


def _check_group(f: h5py.File, group: str, n: int, path: Path) -> None:
    """A group of columns: 1-D datasets of length ``n``, numbers (or text in meta)."""
    g = f[group]
    if not isinstance(g, h5py.Group):
        raise StarlabelInputError(
            f"/{group} is a dataset, expected a group of columns", path=path
        )
    for key, item in g.items():
        where = f"/{group}/{key}"
        if not isinstance(item, h5py.Dataset):
            raise StarlabelInputError(
                f"{where} is a group; /{group} may hold only 1-D datasets "
                f"(one per column) of length {n}",
                path=path,
            )
        if item.shape != (n,):
            raise StarlabelInputError(
                f"{where} has shape {item.shape}, expected ({n},) (one value "
                "per spectrum)",
                path=path,
            )
        text = is_text(item)
        if group != "meta" and (text or item.dtype.kind not in "fiub"):
            raise StarlabelInputError(
                f"{where} has type {item.dtype}, expected numbers", path=path
            )
        if group == "meta" and not text and item.dtype.kind not in "fiub":
            raise StarlabelInputError(
                f"{where} has type {item.dtype}, expected numbers or text", path=path
            )


def _wavelength(f: h5py.File, path: Path) -> np.ndarray:
    """The grid in Angstrom: a length unit, strictly increasing, plausible."""
    p = f["flux"].shape[1]
    unit = read_attr(f.attrs.get("wavelength_unit", "Angstrom"))
    try:
        scale = u.Unit(unit).to(u.AA)
    except (ValueError, TypeError, u.UnitConversionError) as exc:
        raise StarlabelInputError(
            f"wavelength_unit {unit!r} is not a length", path=path
        ) from exc
    wl = f["wavelength"][...] * scale
    if not np.all(np.isfinite(wl)) or (p > 1 and not np.all(np.diff(wl) > 0)):
        raise StarlabelInputError("/wavelength is not strictly increasing", path=path)
    if p:
        wrong = wrong_unit(wl, unit, str(read_attr(f.attrs.get("setup", ""))))
        if wrong:
            raise StarlabelInputError(wrong, path=path)
    return wl


def wrong_unit(wl: np.ndarray, unit: str, setup: str) -> str | None:
    """Why a grid in Angstrom (``wl``) looks like nm or micron labelled ``unit``,
    judged by the declared setup's grid, else by the range of stellar spectra."""
    from ...grids import NAMED_GRIDS
    from ...raw import PLAUSIBLE_WAVELENGTH_AA

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
