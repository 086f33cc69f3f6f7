"""Posterior summaries (KDE peak, Precision-mode value and uncertainties).

The functions live in :mod:`starlabel.models.posterior` because the cINN's own
``predict`` uses them (a model may not import from this higher layer); they are
public here, beside the rest of the inference tools.
"""

from ..models.posterior import kde_peak, precision_summary, silverman_bandwidth

__all__ = ["kde_peak", "precision_summary", "silverman_bandwidth"]
