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
from .columns import (
    as_flux,
    as_ivar,
    as_wavelength,
    check_error_labels,
    check_medium,
    check_same_grid,
    float_columns,
    merge_columns,
    meta_columns,
    units_of,
)
from .snr import der_snr
from .splits import assign_split

__all__ = ["Spectra"]


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
        flux = as_flux(flux)
        n, p = flux.shape
        wl = as_wavelength(wavelength, p)
        ivar = as_ivar(ivar, flux, meta)
        check_medium(medium)
        meta_d = meta_columns(meta, n)
        self.flux = flux
        self.ivar = ivar
        self._wavelength = wl
        self.labels = float_columns(labels, n, "labels", np.float64)
        self.labels_err = float_columns(labels_err, n, "labels_err", np.float64)
        self.labels_crlb = float_columns(labels_crlb, n, "labels_crlb", np.float64)
        check_error_labels(
            self.labels, labels_err=self.labels_err, labels_crlb=self.labels_crlb
        )
        self.extra = float_columns(extra, n, "extra", np.float32)
        self.meta = meta_d
        self.label_units = units_of(self.labels, label_units)
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
        check_same_grid(parts)
        units: dict[str, str] = {}
        for p in parts:
            units.update({k: v for k, v in p.label_units.items() if k not in units})
        return cls(
            np.concatenate([p.flux for p in parts]),
            first.wavelength,
            np.concatenate([p.ivar for p in parts]),
            merge_columns(parts, "labels"),
            labels_err=merge_columns(parts, "labels_err"),
            labels_crlb=merge_columns(parts, "labels_crlb"),
            extra=merge_columns(parts, "extra"),
            meta=merge_columns(parts, "meta"),
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
