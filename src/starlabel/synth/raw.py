"""Raw observations: what a survey archive would deliver for a synthetic population.

Per star and native setup (HR10 and HR21 for the joined setup), one Gaia-ESO-style
FITS file (image layout, linear WCS, ``IVAR`` extension) on the setup's native
0.05 A grid, Doppler shifted by the star's radial velocity, with Gaussian noise,
cosmic-ray spikes (Poisson mean 1.5 per spectrum, 10-60 sigma), dead pixels (zero
flux, Poisson mean 0.5) and, optionally, an un-normalised blaze-like continuum.
A catalogue FITS table carries the labels (``TEFF``, ``LOGG``, ``FEH``,
``MG_FE``, ..., ``A_LI``, ``VMIC``, ``VSINI``) with uncertainties ``E_<column>`` and the *measured* radial velocity ``VRAD`` (true
value + N(0, ``E_VRAD``)); the truth (true RV, noise-free spectra on the joined
grid) goes to a separate ``truth.h5``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from astropy.table import Table

from .._atomic import atomic_path, check_output_dir
from .._staging import staged_dir
from ..spectra.grids import named_grid
from ..spectra.io.eso import write_eso_spectrum
from ..spectra.preprocess import doppler_factor, resample
from .physics import LABELS, SpectrumGenerator
from .population import Population
from .setups import get_setup
from .survey import noise_sigma, synth_ids, synthesize, write_survey

__all__ = ["write_raw_observations", "CATALOGUE_ERRORS"]

# Typical reference-label uncertainties written to the catalogue (Gaia-ESO iDR6 scale).
CATALOGUE_ERRORS = {
    "teff": 60.0,
    "logg": 0.12,
    "fe_h": 0.06,
    "mg_fe": 0.06,
    "al_fe": 0.08,
    "si_fe": 0.06,
    "ca_fe": 0.07,
    "ti_fe": 0.08,
    "ni_fe": 0.06,
    "a_li": 0.1,
    "vmic": 0.2,
    "vsini": 2.0,
}
# Gaia-ESO-like column names; the others are the label names in capitals (MG_FE, A_LI...).
CATALOGUE_COLUMNS = {"teff": "TEFF", "logg": "LOGG", "fe_h": "FEH"}
_SETUP_KEY = {
    "giraffe-hr10": "HR10",
    "giraffe-hr21": "HR21",
    "giraffe-hr15n": "HR15N",
    "gaia-rvs": "RVS",
}


def _continuum(wl: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    mid, half = 0.5 * (wl[0] + wl[-1]), 0.5 * (wl[-1] - wl[0])
    level = rng.uniform(300.0, 3000.0)
    tilt = rng.uniform(-0.15, 0.15)
    x = (wl - mid) / half
    return (
        level
        * (1.0 - 0.35 * x**2 + tilt * x)
        * (1.0 + 0.02 * np.sin(2 * np.pi * (wl - wl[0]) / 70.0))
    )


def write_raw_observations(
    out_dir: str | Path,
    population: Population,
    *,
    setup: str = "giraffe-hr10-hr21",
    seed: int = 0,
    continuum: bool = False,
    rv_err: float = 0.3,
    ids: np.ndarray | None = None,
    batch_size: int = 64,
    truth_crlb: bool = False,
    progress: Callable[[int], None] | None = None,
    overwrite: bool = False,
) -> tuple[list[Path], Path, Path]:
    """Write raw FITS spectra, a label catalogue and the truth for a population.

    ``progress(k)`` is called as stars are done: once per native setup and once more
    for the truth, so the total is ``n_stars * (n_natives + 1)``.

    The truth (``truth.h5``) holds the noise-free spectra on the setup's grid, the
    true labels and RVs, and with ``truth_crlb`` the Cramer-Rao bounds at each star's
    S/N. Stars are named :func:`~starlabel.synth.survey.synth_ids` ``(n, seed)``
    unless ``ids`` are given, as in :func:`~starlabel.synth.survey.synthesize` with
    the same seed.

    Args:
        overwrite: replace an earlier folder of raw observations of starlabel
            (a folder starlabel did not write is never replaced). The folder
            appears complete or not at all.

    Returns:
        (spectrum files, catalogue path, truth dataset path).

    Raises:
        StarlabelInputError: ``out_dir`` is a file, a folder starlabel did not
            write, or an earlier one without ``overwrite``.
    """
    out = check_output_dir(out_dir, overwrite=overwrite, command="synth --raw")
    with staged_dir(out, command="synth --raw") as stage:
        files, catalogue, truth = _observe_into(
            stage,
            population,
            setup=setup,
            seed=seed,
            continuum=continuum,
            rv_err=rv_err,
            ids=ids,
            batch_size=batch_size,
            truth_crlb=truth_crlb,
            progress=progress,
        )
    return [out / f.name for f in files], out / catalogue.name, out / truth.name


def _observe_into(
    out: Path,
    population: Population,
    *,
    setup: str,
    seed: int,
    continuum: bool,
    rv_err: float,
    ids: np.ndarray | None,
    batch_size: int,
    truth_crlb: bool,
    progress: Callable[[int], None] | None,
) -> tuple[list[Path], Path, Path]:
    """The body of :func:`write_raw_observations`, writing into folder ``out``."""
    rng = np.random.default_rng(seed + 104729)
    n = len(population)
    ids = ids if ids is not None else synth_ids(n, seed)
    rv_true = np.asarray(population.meta["rv"], dtype=float)
    snr = np.asarray(population.meta["snr"], dtype=float)
    labels = population.array()
    files: list[Path] = []
    for native in get_setup(setup).natives:
        key = _SETUP_KEY.get(native, native)
        gen = SpectrumGenerator(native)
        grid = named_grid(native).segments[0]
        for start in range(0, n, batch_size):
            sl = slice(start, min(start + batch_size, n))
            with torch.no_grad():
                fine = (
                    gen.fine(torch.as_tensor(labels[sl], dtype=gen.dtype))
                    .cpu()
                    .numpy()
                    .astype(np.float64)
                )
            for j, i in enumerate(range(sl.start, sl.stop)):
                # Observed pixels see the rest-frame spectrum at lambda_obs / D.
                rest_pixels = grid / doppler_factor(rv_true[i])
                flux, _, _ = resample(
                    gen.fine_wavelength, fine[j], np.ones(fine.shape[1]), rest_pixels
                )
                sigma = noise_sigma(flux[None, :], snr[i : i + 1])[0]
                noisy = flux + rng.normal(0.0, 1.0, flux.size) * sigma
                for _ in range(rng.poisson(1.5)):
                    k = rng.integers(2, flux.size - 2)
                    noisy[k] += rng.uniform(10, 60) * sigma[k]
                    if rng.random() < 0.5:
                        noisy[k + 1] += rng.uniform(5, 30) * sigma[k]
                for _ in range(rng.poisson(0.5)):
                    noisy[rng.integers(0, flux.size)] = 0.0
                if continuum:
                    c = _continuum(grid, rng)
                    noisy, sigma = noisy * c, sigma * c
                path = out / f"{ids[i]}_{key}.fits"
                write_eso_spectrum(
                    path,
                    grid,
                    noisy,
                    1.0 / sigma**2,
                    star=str(ids[i]),
                    setup=key,
                    header={"SNR": float(snr[i])},
                )
                files.append(path)
            if progress is not None:
                progress(sl.stop - sl.start)
    rv_meas = rv_true + rng.normal(0.0, rv_err, n)
    cols = {"CNAME": ids}
    for name in LABELS:
        col = CATALOGUE_COLUMNS.get(name, name.upper())
        cols[col] = population.labels[name]
        cols[f"E_{col}"] = np.full(n, CATALOGUE_ERRORS[name])
    cols.update({"VRAD": rv_meas, "E_VRAD": np.full(n, rv_err), "SNR": snr})
    for key in ("population", "cluster", "stage"):
        if key in population.meta:
            cols[key.upper()] = np.asarray(population.meta[key]).astype(str)
    catalogue = out / "catalogue.fits"
    with atomic_path(catalogue) as tmp:
        Table(cols).write(tmp, format="fits", overwrite=True)
    truth = out / "truth.h5"
    write_survey(
        truth,
        synthesize(
            population,
            setup=setup,
            noise=False,
            with_crlb=truth_crlb,
            ids=ids,
            seed=seed,
            progress=progress,
        ),
        overwrite=True,  # inside our own staged folder
    )
    return files, catalogue, truth
