"""Toy raw surveys for the tests of reading and preparation.

Not the synthetic survey: lines are Gaussians whose depths are linear in the labels,
which is enough to exercise reading, cleaning, shifting, resampling, joining and
label joins end to end, and nothing more. The physics-informed generator is
``starlabel.synth``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.table import Table

from starlabel._atomic import atomic_path
from starlabel.spectra.grids import named_grid
from starlabel.spectra.io.eso import write_eso_spectrum
from starlabel.spectra.preprocess import doppler_factor

__all__ = ["toy_flux", "write_toy_survey"]

_LABELS = ("teff", "logg", "fe_h")


_RANGES = ((5339.0, 5619.0), (8484.0, 9001.0))


def toy_flux(
    wavelength: np.ndarray, labels: np.ndarray, *, seed: int = 0, n_lines: int = 40
) -> np.ndarray:
    """Noise-free toy flux ``(n_spectra, n_pixels)`` for labels ``(n_spectra, 3)``.

    ``n_lines`` lines per GIRAFFE HR10 / HR21 range sit at fixed wavelengths drawn
    from ``seed``; each line's depth is linear in (Teff, log g, [Fe/H]) and its
    width 0.15 Angstrom. The flux is a function of wavelength only, so any grid
    (shifted or not) samples the same spectrum.
    """
    rng = np.random.default_rng(seed)
    centres = np.sort(
        np.concatenate([rng.uniform(lo + 1, hi - 1, n_lines) for lo, hi in _RANGES])
    )
    coef = rng.normal(0.0, 0.08, size=(centres.size, 3))
    wl = np.asarray(wavelength, dtype=np.float64)
    lab = np.atleast_2d(labels)
    z = np.column_stack([(lab[:, 0] - 5500) / 1000, (lab[:, 1] - 3) / 1, lab[:, 2] / 1])
    depth = np.clip(0.35 + z @ coef.T, 0.02, 0.9)  # (n_spectra, n_lines)
    near = np.abs(centres - 0.5 * (wl[0] + wl[-1])) < 0.5 * (wl[-1] - wl[0]) + 2.0
    profile = np.exp(-0.5 * ((wl[None, :] - centres[near][:, None]) / 0.15) ** 2)
    return np.clip(1.0 - depth[:, near] @ profile, 0.0, 1.0)


def write_toy_survey(
    out_dir: str | Path,
    *,
    n_stars: int = 100,
    seed: int = 0,
    snr: tuple[float, float] = (30.0, 150.0),
) -> tuple[list[Path], Path]:
    """Write a toy GIRAFFE-like survey: HR10 image files, HR21 table files, a catalogue.

    Each star is observed in HR10 (image layout with WCS) and HR21 (binary-table
    layout) at the survey's 0.05 A sampling, Doppler shifted by a random radial
    velocity, with noise at a random S/N and one cosmic-ray spike per spectrum. The
    catalogue (FITS) has ``CNAME``, ``TEFF``, ``LOGG``, ``FEH``, their errors
    ``E_TEFF``, ``E_LOGG``, ``E_FEH`` and ``VRAD``.

    Returns:
        (spectrum files, catalogue file).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    labels = np.column_stack(
        [
            rng.uniform(4000, 7000, n_stars),
            rng.uniform(1.0, 5.0, n_stars),
            rng.uniform(-2.0, 0.5, n_stars),
        ]
    )
    rv = rng.normal(0.0, 30.0, n_stars)
    sn = np.exp(rng.uniform(np.log(snr[0]), np.log(snr[1]), n_stars))
    ids = [f"toy{i:05d}" for i in range(n_stars)]
    files: list[Path] = []
    for setup, layout in (("HR10", "image"), ("HR21", "table")):
        native = named_grid(f"giraffe-{setup.lower()}").segments[0]
        # Rest-frame flux evaluated at the observed pixels' rest wavelengths.
        for i in range(n_stars):
            rest = native / doppler_factor(rv[i])
            flux = toy_flux(rest, labels[i], seed=seed)[0]
            sigma = 1.0 / sn[i]
            noisy = flux + rng.normal(0.0, sigma, flux.size)
            noisy[rng.integers(20, flux.size - 20)] += 20 * sigma + 0.5  # a cosmic ray
            ivar = np.full(flux.size, 1.0 / sigma**2)
            path = out / f"{ids[i]}_{setup}.fits"
            write_eso_spectrum(
                path, native, noisy, ivar, star=ids[i], setup=setup, layout=layout
            )
            files.append(path)
    table = Table(
        {
            "CNAME": ids,
            "TEFF": labels[:, 0],
            "E_TEFF": np.full(n_stars, 50.0),
            "LOGG": labels[:, 1],
            "E_LOGG": np.full(n_stars, 0.1),
            "FEH": labels[:, 2],
            "E_FEH": np.full(n_stars, 0.05),
            "VRAD": rv,
        }
    )
    catalogue = out / "catalogue.fits"
    with atomic_path(catalogue) as tmp:
        table.write(tmp, format="fits", overwrite=True)
    return files, catalogue
