"""What every estimator returns, and the small protocol they share."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..spectra.labels import label_spec

__all__ = ["LabelPrediction", "NotFittedError"]

try:  # sklearn's class when available, so sklearn tools recognise it
    from sklearn.exceptions import NotFittedError
except ImportError:  # pragma: no cover

    class NotFittedError(ValueError, AttributeError):  # type: ignore[no-redef]
        """The estimator is used before ``fit``."""


@dataclass(frozen=True)
class LabelPrediction:
    """Predicted labels with split uncertainties.

    Attributes:
        label_names: ``(n_labels,)`` names.
        mean: ``(n_spectra, n_labels)`` point estimates, in the labels' units.
        sigma_internal: ``(n_spectra, n_labels)`` model (epistemic) uncertainty,
            e.g. the spread of ensemble members; NaN when not available.
        sigma_external: ``(n_spectra, n_labels)`` uncertainty from the data noise;
            NaN when not available.
    """

    label_names: tuple[str, ...]
    mean: np.ndarray
    sigma_internal: np.ndarray
    sigma_external: np.ndarray

    @property
    def sigma_total(self) -> np.ndarray:
        """Quadrature sum of the available parts (NaN where none is available)."""
        parts = np.stack([self.sigma_internal, self.sigma_external])
        have = np.isfinite(parts)
        total = np.sqrt(np.sum(np.where(have, parts, 0.0) ** 2, axis=0))
        return np.where(have.any(axis=0), total, np.nan)

    def __len__(self) -> int:
        return int(self.mean.shape[0])

    def to_table(self, ids=None, *, split: bool = True):
        """An astropy ``Table``: ``id``, ``<name>``, ``<name>_err`` and, with ``split``,
        ``<name>_err_int`` and ``<name>_err_ext``; units in the column metadata."""
        from astropy.table import Table

        table = Table()
        if ids is not None:
            table["id"] = np.asarray(ids).astype(str)
        total = self.sigma_total
        for k, name in enumerate(self.label_names):
            unit = label_spec(name).unit or None
            table[name] = self.mean[:, k]
            table[name].unit = unit
            table[f"{name}_err"] = total[:, k]
            table[f"{name}_err"].unit = unit
            if split:
                for suffix, values in (
                    ("int", self.sigma_internal),
                    ("ext", self.sigma_external),
                ):
                    table[f"{name}_err_{suffix}"] = values[:, k]
                    table[f"{name}_err_{suffix}"].unit = unit
        return table
