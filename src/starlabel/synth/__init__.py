"""The built-in synthetic survey: differentiable spectra, a Galactic population, the CRLB."""

from .physics import LABELS, SpectrumGenerator, vmic_relation
from .setups import SETUPS, Setup, get_setup

__all__ = [
    "LABELS",
    "SpectrumGenerator",
    "vmic_relation",
    "SETUPS",
    "Setup",
    "get_setup",
]
