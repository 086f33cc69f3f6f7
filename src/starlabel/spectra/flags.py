"""Per-star flag bits, shared by datasets (``/meta/flag``) and catalogues (``flag``).

Bits add up: a star with flag 5 has ``NOT_PROCESSED`` (1) and ``LOW_SNR`` (4).
The README's table is generated from this enum's docstrings; keep them one line.
"""

from __future__ import annotations

import enum

__all__ = ["Flag", "describe_flags"]


class Flag(enum.IntFlag):
    """Flag bits of a star."""

    NOT_PROCESSED = 1
    """The spectrum could not be read or processed; its values are NaN."""
    PARTIAL_COVERAGE = 2
    """The spectrum does not cover the whole target grid; missing pixels are masked."""
    LOW_SNR = 4
    """S/N below the quality cut."""
    MANY_MASKED = 8
    """More than 10 % of the pixels are masked (bad pixels, spikes, gaps)."""
    NO_LABELS = 16
    """No match in the label catalogue (labels are NaN)."""
    BAD_LABELS = 32
    """Label uncertainties above the quality cut, or catalogue flags set."""
    OUT_OF_DISTRIBUTION = 64
    """The spectrum is unlike the training set; labels are extrapolated."""
    OUTSIDE_TRAINING_RANGE = 128
    """A predicted label lies outside the range of the training labels."""
    NONPHYSICAL_FLUX = 256
    """Some pixels had non-physical flux (not finite, or outside [-1, 10] once normalised); they are masked."""
    FIT_NOT_CONVERGED = 512
    """The per-star fit stopped at its iteration limit before converging."""
    FIT_AT_BOUND = 1024
    """A label of the per-star fit ended on the edge of the training range."""
    OWN_LINES_MASKED = 2048
    """Every line of an abundance's element is masked here (or off the grid): that abundance is the training prior, its _err the prior's spread."""
    OWN_LINES_WEAK = 4096
    """An abundance's own lines are too weak here to measure it (their Cramer-Rao bound exceeds the training spread): that abundance is the training prior, its _err the prior's spread."""
    SNR_BELOW_CALIBRATION = 8192
    """The spectrum's S/N is below every S/N the error calibration was fitted on: _err is the map's value times (lowest calibrated S/N / S/N), a documented widening, not a checked error."""
    MODELS_DISAGREE = 16384
    """Two models of the star (the network that started the per-star fit and the fit) disagree beyond their combined errors (chi-square p < 0.001, column models_chi2): a model mismatch or a star outside one model's reach."""


def describe_flags(value: int) -> list[str]:
    """Names of the bits set in ``value``.

    Example:
        >>> describe_flags(5)
        ['NOT_PROCESSED', 'LOW_SNR']
    """
    return [f.name for f in Flag if int(value) & f.value and f.name is not None]
