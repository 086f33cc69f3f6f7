"""Preprocessing steps, each a plain function on arrays.

* :func:`clean_spikes` — spikes and bad pixels (Ambrosch et al. 2023 §2.1);
* :func:`air_to_vacuum`, :func:`vacuum_to_air` — wavelength media;
* :func:`doppler_factor`, :func:`shift_to_rest` — radial-velocity correction;
* :func:`resample` — flux-conserving resampling with inverse-variance propagation;
* :func:`resample_to_grid` — the same onto a multi-segment :class:`Grid`;
* :func:`normalise_continuum` — running percentile or iterative polynomial;
* :func:`fill_masked`, :func:`dense_flux` — dense input for networks;
* :func:`nonphysical_flux`, :func:`mask_nonphysical` — pixels no spectrum can have;
* :func:`quality_mask` — cuts on S/N, label errors and flags.

One module per kind of step: ``cleaning`` (non-physical values, spikes),
``shifting`` (media, Doppler), ``resampling``, ``continuum``, ``filling``, ``cuts``.
``starlabel.spectra.prepare`` chains them.
"""

from .cleaning import (
    NORMALISED_FLUX_RANGE,
    RAW_FLUX_LIMIT,
    clean_spikes,
    mask_nonphysical,
    nonphysical_flux,
)
from .continuum import normalise_continuum
from .cuts import quality_mask
from .filling import dense_flux, fill_masked
from .resampling import overlap_matrix, resample, resample_to_grid
from .shifting import (
    SPEED_OF_LIGHT_KMS,
    air_to_vacuum,
    doppler_factor,
    shift_to_rest,
    vacuum_to_air,
)

__all__ = [
    "clean_spikes",
    "air_to_vacuum",
    "vacuum_to_air",
    "doppler_factor",
    "shift_to_rest",
    "resample",
    "resample_to_grid",
    "overlap_matrix",
    "normalise_continuum",
    "fill_masked",
    "dense_flux",
    "nonphysical_flux",
    "mask_nonphysical",
    "NORMALISED_FLUX_RANGE",
    "RAW_FLUX_LIMIT",
    "quality_mask",
    "SPEED_OF_LIGHT_KMS",
]
