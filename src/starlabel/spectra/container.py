"""The ``Spectra`` container: many spectra on one wavelength grid, with labels.

Arrays follow the dataset file of ARCHITECTURE.md: ``flux`` and ``ivar`` are
``(n_spectra, n_pixels)`` float32, ``ivar == 0`` marks a masked pixel, labels are
float64 per name with NaN for unknown values, ``meta['id']`` is a unique string id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import astropy.units as u
import numpy as np

from .._typing import ArrayLike, PathLike
from .labels import label_spec

__all__ = ["Spectra", "der_snr", "assign_split"]

_MEDIA = ("air", "vacuum")


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


def der_snr(flux: ArrayLike) -> np.ndarray:
    """S/N per spectrum from the flux alone (DER_SNR, Stoehr et al. 2008).

    Uses ``median(flux) / (1.482602 / sqrt(6) * median|2 f_i - f_{i-2} - f_{i+2}|)``
    over finite pixels, a robust estimate when no inverse variance is known.

    Args:
        flux: ``(n_spectra, n_pixels)`` or ``(n_pixels,)``.

    Returns:
        ``(n_spectra,)`` S/N per pixel (NaN where fewer than 5 finite pixels).

    References:
        Stoehr et al. 2008, ASP Conf. Ser. 394, 505.
    """
    f = np.atleast_2d(np.asarray(flux, dtype=float))
    out = np.full(f.shape[0], np.nan)
    for i, row in enumerate(f):
        row = row[np.isfinite(row)]
        if row.size < 5:
            continue
        noise = (
            1.482602
            / np.sqrt(6.0)
            * np.median(np.abs(2 * row[2:-2] - row[:-4] - row[4:]))
        )
        signal = np.median(row)
        out[i] = signal / noise if noise > 0 else np.inf
    return out


def assign_split(
    n: int,
    fractions: Sequence[float],
    *,
    seed: int = 0,
    strata: np.ndarray | None = None,
) -> np.ndarray:
    """Part index (0, 1, ...) of each of ``n`` items for a random or stratified split.

    Part sizes are exact: ``n * fraction`` rounded by largest remainder. Random:
    a seeded permutation. Stratified on a label (``strata``): items are ordered by
    the label (ties and the order of unknown values, which go last, are random) and
    the parts are interleaved evenly along that order, each starting at a random
    offset, so every part samples the label's distribution from end to end.

    Example:
        >>> np.bincount(assign_split(10, (0.6, 0.2, 0.2), seed=1)).tolist()
        [6, 2, 2]
        >>> np.bincount(assign_split(10, (0.6, 0.2, 0.2), strata=np.arange(10.))).tolist()
        [6, 2, 2]
    """
    frac = np.asarray(fractions, dtype=float)
    if (
        frac.ndim != 1
        or frac.size < 1
        or np.any(frac <= 0)
        or abs(frac.sum() - 1) > 1e-6
    ):
        raise ValueError(
            f"fractions: expected positive numbers summing to 1, got {list(fractions)}"
        )
    rng = np.random.default_rng(seed)
    exact = frac * n
    counts = np.floor(exact).astype(int)
    counts[np.argsort(-(exact - counts), kind="stable")[: n - counts.sum()]] += 1
    if strata is None:
        part = np.empty(n, dtype=int)
        part[rng.permutation(n)] = np.repeat(np.arange(frac.size), counts)
        return part
    values = np.asarray(strata, dtype=float)
    if values.shape != (n,):
        raise ValueError(f"strata: expected shape ({n},), got {values.shape}")
    key = np.where(np.isfinite(values), values, np.inf)
    order = np.lexsort((rng.random(n), key))
    # Slot j of part k sits at (j + u_k) * n / c_k along the ordered items.
    slots = np.concatenate(
        [(np.arange(c) + rng.random()) * n / c for c in counts if c > 0]
    )
    owners = np.concatenate([np.full(c, k) for k, c in enumerate(counts) if c > 0])
    sequence = owners[np.argsort(slots, kind="stable")]
    part = np.empty(n, dtype=int)
    part[order] = sequence
    return part


class Spectra:
    """Spectra on a shared wavelength grid, with labels, errors, extras and metadata.

    Methods return new objects; arrays are not copied unless needed.

    Args:
        flux: ``(n_spectra, n_pixels)`` continuum-normalised flux.
        wavelength: ``(n_pixels,)`` strictly increasing grid, an astropy Quantity
            (stored in Angstrom).
        ivar: ``(n_spectra, n_pixels)`` inverse variance of ``flux``; 0 marks a
            masked pixel. ``None`` estimates a constant noise per spectrum with
            DER_SNR. Non-finite flux is masked automatically.
        labels: name -> ``(n_spectra,)`` values; NaN where unknown.
        labels_err: name -> reference uncertainties of the labels.
        labels_crlb: name -> Cramer-Rao bound per spectrum (synthetic data).
        extra: name -> ``(n_spectra,)`` non-spectral inputs (magnitudes, parallax).
        meta: column -> ``(n_spectra,)`` per-star metadata; ``id`` (unique strings)
            is generated as ``star-000000``... when absent.
        label_units: name -> unit string; defaults from the label name.
        medium: ``"air"`` or ``"vacuum"`` wavelengths.
        rest_frame: whether the spectra are shifted to the rest frame.
        setup: instrument setup or grid name (``"giraffe-hr10-hr21"``).
        attrs: further file-level attributes kept through a round trip.

    Raises:
        ValueError: on shapes, units, a non-increasing grid, negative or non-finite
            inverse variance, or duplicated ids.

    Example:
        >>> import astropy.units as u
        >>> sp = Spectra(np.ones((3, 4)), np.arange(4.0) * u.nm + 500 * u.nm,
        ...              labels={"teff": [5000.0, 5500.0, np.nan]})
        >>> sp.n_spectra, sp.n_pixels, sp.wavelength.unit
        (3, 4, Unit("Angstrom"))
        >>> sp[[0, 2]].ids.tolist()
        ['star-000000', 'star-000002']
    """

    def __init__(
        self,
        flux: ArrayLike,
        wavelength: u.Quantity,
        ivar: ArrayLike | None = None,
        labels: Mapping[str, ArrayLike] | None = None,
        *,
        labels_err: Mapping[str, ArrayLike] | None = None,
        labels_crlb: Mapping[str, ArrayLike] | None = None,
        extra: Mapping[str, ArrayLike] | None = None,
        meta: Mapping[str, ArrayLike] | None = None,
        label_units: Mapping[str, str] | None = None,
        medium: Literal["air", "vacuum"] = "air",
        rest_frame: bool = True,
        setup: str = "",
        attrs: Mapping[str, Any] | None = None,
    ) -> None:
        flux = np.asarray(flux, dtype=np.float32)
        if flux.ndim == 1:
            flux = flux[None, :]
        if flux.ndim != 2:
            raise ValueError(
                f"flux: expected (n_spectra, n_pixels), got shape {flux.shape}"
            )
        n, p = flux.shape
        if not isinstance(wavelength, u.Quantity):
            raise ValueError(
                "wavelength: expected an astropy Quantity with a length unit "
                "(e.g. wave * u.AA), got unit-less values"
            )
        try:
            wl = wavelength.to_value(u.AA, equivalencies=u.spectral())
        except u.UnitConversionError as exc:
            raise ValueError(
                f"wavelength: unit {wavelength.unit} is not a length"
            ) from exc
        wl = np.asarray(wl, dtype=np.float64)
        if wl.ndim != 1 or wl.shape[0] != p:
            raise ValueError(f"wavelength: expected shape ({p},), got {wl.shape}")
        if not np.all(np.isfinite(wl)) or (p > 1 and not np.all(np.diff(wl) > 0)):
            raise ValueError("wavelength: must be finite and strictly increasing")
        if ivar is None:
            snr = der_snr(flux)
            level = np.nanmedian(np.where(np.isfinite(flux), flux, np.nan), axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                sig = np.abs(level) / snr
                iv = np.where(np.isfinite(sig) & (sig > 0), 1.0 / sig**2, 0.0)
            ivar = np.repeat(iv[:, None], p, axis=1)
        ivar = np.asarray(ivar, dtype=np.float32)
        if ivar.shape != flux.shape:
            raise ValueError(f"ivar: expected shape {flux.shape}, got {ivar.shape}")
        if not np.all(np.isfinite(ivar)):
            raise ValueError("ivar: contains NaN or infinite values (use 0 to mask)")
        if np.any(ivar < 0):
            bad = int(np.flatnonzero((ivar < 0).any(axis=1))[0])
            ids = (meta or {}).get("id")
            who = f" (id {ids[bad]})" if ids is not None and len(ids) > bad else ""
            raise ValueError(
                f"ivar: negative inverse variance in spectrum {bad} of these {n}{who}"
            )
        bad_flux = ~np.isfinite(flux)
        if bad_flux.any():
            ivar = np.where(bad_flux, np.float32(0), ivar)
        if medium not in _MEDIA:
            raise ValueError(f"medium: expected 'air' or 'vacuum', got {medium!r}")

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
        meta_d = {"id": ids, **{k: v for k, v in meta_d.items() if k != "id"}}

        def floats(m: Mapping[str, ArrayLike] | None, what: str, dt: Any) -> dict:
            out = {}
            for key, values in (m or {}).items():
                label_spec(str(key))  # validates the name
                out[str(key)] = _column(values, n, f"{what}[{key!r}]", dt)
            return out

        self.flux = flux
        self.ivar = ivar
        self._wavelength = wl
        self.labels = floats(labels, "labels", np.float64)
        self.labels_err = floats(labels_err, "labels_err", np.float64)
        self.labels_crlb = floats(labels_crlb, "labels_crlb", np.float64)
        for what, d in (
            ("labels_err", self.labels_err),
            ("labels_crlb", self.labels_crlb),
        ):
            unknown = set(d) - set(self.labels)
            if unknown:
                raise ValueError(f"{what}: no label named {sorted(unknown)}")
        self.extra = floats(extra, "extra", np.float32)
        self.meta = meta_d
        units = {name: label_spec(name).unit for name in self.labels}
        units.update(
            {k: str(v) for k, v in (label_units or {}).items() if k in self.labels}
        )
        self.label_units = units
        self.medium = medium
        self.rest_frame = bool(rest_frame)
        self.setup = str(setup)
        self.attrs = dict(attrs or {})

    # ----------------------------------------------------------------- basics
    @property
    def wavelength(self) -> u.Quantity:
        """``(n_pixels,)`` wavelength grid in Angstrom."""
        return self._wavelength * u.AA

    @property
    def wavelength_aa(self) -> np.ndarray:
        """``(n_pixels,)`` wavelength grid as plain float64 Angstrom."""
        return self._wavelength

    @property
    def n_spectra(self) -> int:
        return self.flux.shape[0]

    @property
    def n_pixels(self) -> int:
        return self.flux.shape[1]

    def __len__(self) -> int:
        return self.n_spectra

    @property
    def ids(self) -> np.ndarray:
        """``(n_spectra,)`` unique star ids."""
        return self.meta["id"]

    @property
    def label_names(self) -> list[str]:
        return list(self.labels)

    @property
    def mask(self) -> np.ndarray:
        """``(n_spectra, n_pixels)`` True where a pixel is masked (``ivar == 0``)."""
        return self.ivar == 0

    def __repr__(self) -> str:
        wl = self._wavelength
        rng = f"{wl[0]:.2f}-{wl[-1]:.2f} A" if wl.size else "empty grid"
        return (
            f"Spectra(n_spectra={self.n_spectra}, n_pixels={self.n_pixels}, {rng}, "
            f"labels={self.label_names}, medium={self.medium!r})"
        )

    def _kwargs(self) -> dict[str, Any]:
        return dict(
            labels=self.labels,
            labels_err=self.labels_err,
            labels_crlb=self.labels_crlb,
            extra=self.extra,
            meta=self.meta,
            label_units=self.label_units,
            medium=self.medium,
            rest_frame=self.rest_frame,
            setup=self.setup,
            attrs=self.attrs,
        )

    def replace(self, **changes: Any) -> Spectra:
        """A new ``Spectra`` with some fields changed (``flux=``, ``labels=``, ...)."""
        kw: dict[str, Any] = dict(
            flux=self.flux, wavelength=self.wavelength, ivar=self.ivar
        )
        kw.update(self._kwargs())
        kw.update(changes)
        return Spectra(**kw)

    # -------------------------------------------------------------- selection
    def __getitem__(self, key: int | slice | ArrayLike) -> Spectra:
        if isinstance(key, (int, np.integer)):
            key = [int(key)]
        if isinstance(key, slice):
            idx: Any = key
        else:
            idx = np.asarray(key)
            if idx.dtype == bool:
                if idx.shape != (self.n_spectra,):
                    raise ValueError(
                        f"mask: expected shape ({self.n_spectra},), got {idx.shape}"
                    )
            elif idx.dtype.kind not in "iu":
                raise TypeError(
                    f"index: expected int, slice, bool mask or ints, got {idx.dtype}"
                )

        def take(d: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
            return {k: v[idx] for k, v in d.items()}

        return Spectra(
            self.flux[idx],
            self.wavelength,
            self.ivar[idx],
            take(self.labels),
            labels_err=take(self.labels_err),
            labels_crlb=take(self.labels_crlb),
            extra=take(self.extra),
            meta=take(self.meta),
            label_units=self.label_units,
            medium=self.medium,
            rest_frame=self.rest_frame,
            setup=self.setup,
            attrs=self.attrs,
        )

    def select(self, ids: Iterable[str]) -> Spectra:
        """The spectra with these ids, in the order given.

        Raises:
            KeyError: naming the first id that is not present.
        """
        position = {sid: i for i, sid in enumerate(self.ids)}
        order = []
        for sid in ids:
            if sid not in position:
                raise KeyError(f"ids: no spectrum with id {sid!r}")
            order.append(position[sid])
        return self[np.asarray(order, dtype=int)]

    def label_array(self, names: Sequence[str] | None = None) -> np.ndarray:
        """``(n_spectra, n_labels)`` float64 array of the named labels (NaN = unknown)."""
        names = self.label_names if names is None else list(names)
        missing = [n for n in names if n not in self.labels]
        if missing:
            raise KeyError(
                f"labels: not in this dataset: {missing}; have {self.label_names}"
            )
        if not names:
            return np.empty((self.n_spectra, 0))
        return np.stack([self.labels[n] for n in names], axis=1)

    # ------------------------------------------------------------ combination
    @classmethod
    def concatenate(cls, parts: Sequence[Spectra]) -> Spectra:
        """Join several ``Spectra`` on the same grid into one.

        Labels, extras and metadata present in only some parts are filled with NaN
        (or empty strings for text columns) in the others.

        Raises:
            ValueError: if the grids or media differ, or ids repeat.
        """
        parts = list(parts)
        if not parts:
            raise ValueError("parts: nothing to concatenate")
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

        def merged(attr: str, fill_float: float = np.nan) -> dict[str, np.ndarray]:
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
                        like = next(
                            getattr(q, attr)[k] for q in parts if k in getattr(q, attr)
                        )
                        fill: Any = "" if like.dtype.kind == "U" else fill_float
                        dt = like.dtype if like.dtype.kind in "Uf" else np.float64
                        cols.append(np.full(p.n_spectra, fill, dtype=dt))
                out[k] = np.concatenate(cols)
            return out

        units: dict[str, str] = {}
        for p in parts:
            units.update({k: v for k, v in p.label_units.items() if k not in units})
        return cls(
            np.concatenate([p.flux for p in parts]),
            first.wavelength,
            np.concatenate([p.ivar for p in parts]),
            merged("labels"),
            labels_err=merged("labels_err"),
            labels_crlb=merged("labels_crlb"),
            extra=merged("extra"),
            meta=merged("meta"),
            label_units=units,
            medium=first.medium,
            rest_frame=all(p.rest_frame for p in parts),
            setup=first.setup,
            attrs=first.attrs,
        )

    def split(
        self,
        fractions: Sequence[float] = (0.6, 0.2, 0.2),
        *,
        seed: int = 0,
        stratify: str | None = None,
    ) -> tuple[Spectra, ...]:
        """Split into parts with the given fractions (random, or stratified on a label).

        See :func:`assign_split`: stratified parts each span the label's range like
        the whole.

        Args:
            fractions: positive fractions summing to 1.
            seed: random seed; the same seed gives the same split.
            stratify: label name to stratify on, or ``None`` for a random split.

        Returns:
            One ``Spectra`` per fraction, each in the original order.

        Example:
            >>> import astropy.units as u
            >>> sp = Spectra(np.ones((10, 3)), [1.0, 2.0, 3.0] * u.AA)
            >>> [len(p) for p in sp.split((0.6, 0.2, 0.2), seed=1)]
            [6, 2, 2]
        """
        strata = None
        if stratify is not None:
            if stratify not in self.labels:
                raise ValueError(
                    f"stratify: no label {stratify!r}; have {self.label_names}"
                )
            strata = self.labels[stratify]
        part = assign_split(self.n_spectra, fractions, seed=seed, strata=strata)
        return tuple(self[part == k] for k in range(len(fractions)))

    # --------------------------------------------------------------- quality
    def snr(self, method: Literal["ivar", "der_snr"] = "ivar") -> np.ndarray:
        """S/N per spectrum.

        ``"ivar"``: median over unmasked pixels of ``flux * sqrt(ivar)``;
        ``"der_snr"``: from the flux alone (see :func:`der_snr`).

        Returns:
            ``(n_spectra,)``; NaN for a spectrum with no unmasked pixel.
        """
        if method == "der_snr":
            return der_snr(np.where(self.mask, np.nan, self.flux))
        if method != "ivar":
            raise ValueError(f"method: expected 'ivar' or 'der_snr', got {method!r}")
        with np.errstate(invalid="ignore"):
            per_pixel = np.where(self.mask, np.nan, self.flux * np.sqrt(self.ivar))
        out = np.full(self.n_spectra, np.nan)
        ok = ~self.mask.all(axis=1)
        if ok.any():
            out[ok] = np.nanmedian(per_pixel[ok], axis=1)
        return out

    # -------------------------------------------------------------------- I/O
    def to_hdf5(self, path: PathLike, *, overwrite: bool = False) -> None:
        """Write the dataset file of ARCHITECTURE.md (atomically; ``.h5``/``.hdf5``).

        An existing file is replaced only with ``overwrite=True``.
        """
        from .io.hdf5 import write_dataset

        write_dataset(self, path, overwrite=overwrite)

    @classmethod
    def from_hdf5(cls, path: PathLike, rows: slice | None = None) -> Spectra:
        """Read a dataset file (all of it, or a slice of rows)."""
        from .io.hdf5 import read_dataset

        return read_dataset(path, rows=rows)

    def to_specutils(self) -> Any:
        """A ``specutils.Spectrum`` holding flux, uncertainty and mask (no labels)."""
        from astropy.nddata import InverseVariance
        from specutils import Spectrum

        return Spectrum(
            flux=self.flux * u.dimensionless_unscaled,
            spectral_axis=self.wavelength,
            uncertainty=InverseVariance(self.ivar),
            mask=self.mask,
        )

    @classmethod
    def from_specutils(cls, spectrum: Any, **kwargs: Any) -> Spectra:
        """Build from a ``specutils.Spectrum`` (1D or 2D flux); labels via ``kwargs``."""
        from astropy.nddata import InverseVariance

        flux = np.atleast_2d(np.asarray(spectrum.flux.value, dtype=np.float32))
        ivar = None
        if spectrum.uncertainty is not None:
            ivar = np.atleast_2d(
                spectrum.uncertainty.represent_as(InverseVariance).array
            )
            ivar = np.where(np.isfinite(ivar), ivar, 0.0)
        if spectrum.mask is not None and ivar is not None:
            ivar = np.where(np.atleast_2d(spectrum.mask), 0.0, ivar)
        return cls(flux, spectrum.spectral_axis.to(u.AA), ivar, **kwargs)
