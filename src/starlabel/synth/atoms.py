"""Atomic data and the line list of the synthetic survey."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

import numpy as np

__all__ = ["DEFAULT_WINDOW_KMS", "ELEMENTS", "ElementData", "LineList", "load_linelist"]


@dataclass(frozen=True, slots=True)
class ElementData:
    """Per-element constants.

    Attributes:
        mass: atomic mass (u).
        chi_ion: first ionisation energy (eV).
        u1, u2: partition functions of the neutral and singly ionised atom, taken
            constant (values near 5000 K; Gray 2005, *The Observation and Analysis of
            Stellar Photospheres*, App. D). Good to ~30 % over 4000-7000 K.
    """

    mass: float
    chi_ion: float
    u1: float
    u2: float


ELEMENTS: dict[str, ElementData] = {
    "Li": ElementData(6.94, 5.392, 2.1, 1.0),
    "C": ElementData(12.011, 11.260, 9.3, 5.9),
    "N": ElementData(14.007, 14.534, 4.0, 9.0),
    "Na": ElementData(22.990, 5.139, 2.0, 1.0),
    "Mg": ElementData(24.305, 7.646, 1.0, 2.0),
    "Al": ElementData(26.982, 5.986, 5.8, 1.0),
    "Si": ElementData(28.086, 8.152, 9.6, 5.6),
    "S": ElementData(32.06, 10.360, 8.2, 4.1),
    "Ca": ElementData(40.078, 6.113, 1.1, 2.2),
    "Sc": ElementData(44.956, 6.561, 8.5, 15.0),
    "Ti": ElementData(47.867, 6.828, 24.0, 50.0),
    "V": ElementData(50.942, 6.746, 28.0, 30.0),
    "Cr": ElementData(51.996, 6.767, 9.3, 6.7),
    "Mn": ElementData(54.938, 7.434, 6.4, 7.5),
    "Fe": ElementData(55.845, 7.902, 25.6, 40.0),
    "Co": ElementData(58.933, 7.881, 28.0, 26.0),
    "Ni": ElementData(58.693, 7.640, 27.0, 10.0),
    "Y": ElementData(88.906, 6.217, 8.5, 13.0),
    "Ba": ElementData(137.327, 5.212, 2.3, 3.5),
    "Eu": ElementData(151.964, 5.670, 8.0, 12.0),
}

#: Half-width (km/s) of a line's opacity where the line list gives none.
DEFAULT_WINDOW_KMS = 150.0
_DEFAULT_LOG_DAMPING = {1: -2.0, 2: -2.3}


@dataclass(frozen=True)
class LineList:
    """Atomic lines as arrays (one entry per line, sorted by wavelength).

    Attributes:
        species: element symbols.
        ion: 1 (neutral) or 2 (singly ionised).
        wavelength: air wavelengths (Angstrom).
        ep: lower-level excitation potential (eV).
        loggf: log10(g f).
        window_kms: half-width over which each line's opacity is computed (km/s).
        log_damping: log10 of the Voigt damping parameter at solar conditions.
        quality: ``named``, ``solar`` or ``approx`` (see the CSV header).
    """

    species: np.ndarray
    ion: np.ndarray
    wavelength: np.ndarray
    ep: np.ndarray
    loggf: np.ndarray
    window_kms: np.ndarray
    log_damping: np.ndarray
    quality: np.ndarray

    def __len__(self) -> int:
        return int(self.wavelength.size)

    def select(self, mask: np.ndarray) -> LineList:
        return LineList(
            **{k: getattr(self, k)[mask] for k in self.__dataclass_fields__}
        )

    def in_range(self, lo: float, hi: float, margin: float = 0.0) -> LineList:
        """Lines with wavelength in [lo - margin, hi + margin]."""
        return self.select(
            (self.wavelength >= lo - margin) & (self.wavelength <= hi + margin)
        )

    def nearest(self, wavelength: float, species: str | None = None) -> int:
        """Index of the line nearest a wavelength (optionally of one species)."""
        d = np.abs(self.wavelength - wavelength)
        if species is not None:
            d = np.where(self.species == species, d, np.inf)
        return int(np.argmin(d))


@functools.cache
def load_linelist() -> LineList:
    """The package line list (``synth/data/linelist.csv``)."""
    text = (
        resources.files("starlabel.synth")
        .joinpath("data/linelist.csv")
        .read_text("utf-8")
    )
    rows = [ln.split(",") for ln in text.splitlines() if ln and not ln.startswith("#")]
    header, rows = rows[0], rows[1:]
    col = {name: i for i, name in enumerate(header)}
    species = np.array([r[col["species"]] for r in rows])
    unknown = sorted(set(species) - set(ELEMENTS))
    if unknown:
        raise ValueError(f"line list: no atomic data for {unknown}")
    ion = np.array([int(r[col["ion"]]) for r in rows])
    window = np.array([float(r[col["window_kms"]] or DEFAULT_WINDOW_KMS) for r in rows])
    damping = np.array(
        [
            float(r[col["log_damping"]])
            if r[col["log_damping"]]
            else _DEFAULT_LOG_DAMPING[i]
            for r, i in zip(rows, ion, strict=True)
        ]
    )
    lines = LineList(
        species=species,
        ion=ion,
        wavelength=np.array([float(r[col["wavelength"]]) for r in rows]),
        ep=np.array([float(r[col["ep"]]) for r in rows]),
        loggf=np.array([float(r[col["loggf"]]) for r in rows]),
        window_kms=window,
        log_damping=damping,
        quality=np.array([r[col["quality"]] for r in rows]),
    )
    return lines.select(np.argsort(lines.wavelength, kind="stable"))
