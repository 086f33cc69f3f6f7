"""Pure torch building blocks (no data, no files, no fitting logic)."""

from .conv1d import BandedConvRegressor, ConvRegressor
from .standardize import IdentityScaler, ScaledNetwork, Standardizer

__all__ = [
    "BandedConvRegressor",
    "ConvRegressor",
    "IdentityScaler",
    "ScaledNetwork",
    "Standardizer",
]
