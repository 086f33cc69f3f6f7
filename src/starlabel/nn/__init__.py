"""Pure torch building blocks (no data, no files, no fitting logic)."""

from .conv1d import ConvRegressor
from .standardize import Standardizer

__all__ = ["ConvRegressor", "Standardizer"]
