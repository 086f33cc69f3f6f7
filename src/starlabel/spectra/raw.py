"""One spectrum as read from a survey file, before resampling onto a common grid."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import StarlabelInputError

__all__ = ["RawSpectrum", "PLAUSIBLE_WAVELENGTH_AA"]

# Any optical/IR stellar spectrograph lies inside this range; values outside it almost
# always mean a wrong unit (nm or micron read as Angstrom, or log-lambda).
PLAUSIBLE_WAVELENGTH_AA = (900.0, 60000.0)


@dataclass(slots=True)
class RawSpectrum:
    """A spectrum on its own grid.

    Attributes:
        wavelength: ``(n_pixels,)`` float64 in Angstrom, strictly increasing.
        flux: ``(n_pixels,)`` flux (normalised or not).
        ivar: ``(n_pixels,)`` inverse variance; 0 marks a masked pixel.
        id: star id, used to join setups and the label catalogue.
        source: the file it came from.
        medium: ``"air"`` or ``"vacuum"``.
        setup: instrument setup if known (``"HR10"``).
        meta: scalar per-star values found in the file (``snr``, ``rv``, ...).
    """

    wavelength: np.ndarray
    flux: np.ndarray
    ivar: np.ndarray
    id: str
    source: Path
    medium: str = "air"
    setup: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def fail(self, problem: str) -> StarlabelInputError:
        """An input error naming this spectrum's file and star."""
        return StarlabelInputError(problem, path=self.source, star=self.id)

    def validate(self) -> RawSpectrum:
        """Check the arrays and return a cleaned copy (NaN flux masked in ivar).

        Raises:
            StarlabelInputError: for mismatched shapes, non-finite or non-increasing
                wavelengths, an implausible wavelength range, negative inverse
                variance, or a spectrum without a single usable pixel.
        """
        wl = np.asarray(self.wavelength, dtype=np.float64).ravel()
        flux = np.asarray(self.flux, dtype=np.float64).ravel()
        ivar = np.asarray(self.ivar, dtype=np.float64).ravel()
        if not (wl.size == flux.size == ivar.size):
            raise self.fail(
                f"wavelength, flux and ivar lengths differ ({wl.size}, {flux.size}, {ivar.size})"
            )
        if wl.size < 2:
            raise self.fail("fewer than 2 pixels")
        if not np.all(np.isfinite(wl)):
            raise self.fail("wavelength contains NaN or infinite values")
        if not np.all(np.diff(wl) > 0):
            raise self.fail("wavelength is not strictly increasing")
        lo, hi = PLAUSIBLE_WAVELENGTH_AA
        if wl[0] < lo or wl[-1] > hi:
            raise self.fail(
                f"wavelength range {wl[0]:.6g}-{wl[-1]:.6g} Angstrom is implausible for a "
                "stellar spectrum; wrong unit?"
            )
        if np.any(np.isnan(ivar)):
            ivar = np.where(np.isnan(ivar), 0.0, ivar)
        if np.any(ivar < 0):
            raise self.fail(
                f"negative inverse variance in {int((ivar < 0).sum())} pixels"
            )
        if np.any(np.isinf(ivar)):
            raise self.fail("infinite inverse variance (zero error) in some pixels")
        ivar = np.where(np.isfinite(flux), ivar, 0.0)
        if not np.any(ivar > 0):
            raise self.fail("no usable pixel (all flux NaN or all inverse variance 0)")
        return RawSpectrum(
            wl,
            flux,
            ivar,
            self.id,
            self.source,
            self.medium,
            self.setup,
            dict(self.meta),
        )

    @property
    def snr(self) -> float:
        """Median ``flux * sqrt(ivar)`` over unmasked pixels."""
        good = (self.ivar > 0) & np.isfinite(self.flux)
        if not good.any():
            return float("nan")
        return float(np.median(self.flux[good] * np.sqrt(self.ivar[good])))
