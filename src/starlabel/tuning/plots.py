"""The plots of a study: optimisation history, parameter importances, parallel
coordinates (Optuna's matplotlib versions), written atomically as PNGs."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from .._atomic import atomic_path

__all__ = ["write_plots"]

PLOTS = {
    "history": ("history.png", "plot_optimization_history"),
    "importances": ("importances.png", "plot_param_importances"),
    "parallel": ("parallel.png", "plot_parallel_coordinate"),
}


def write_plots(study: Any, output: Path) -> dict[str, Path]:
    """Write the plots that the study's trials allow (importances need two
    complete trials with different parameters); name -> path of those written."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import optuna
    from optuna.visualization import matplotlib as ovm

    written: dict[str, Path] = {}
    for name, (filename, function) in PLOTS.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            warnings.simplefilter("ignore", UserWarning)  # "no complete trials" etc.
            try:
                ax = getattr(ovm, function)(study)
            except (ValueError, RuntimeError, ZeroDivisionError):
                continue  # too few trials for this plot
        fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
        fig.set_size_inches(13 if name == "parallel" else 8, 5)
        fig.tight_layout()
        with atomic_path(output / filename) as tmp:
            fig.savefig(tmp, dpi=90, format="png")
        plt.close(fig)
        written[name] = output / filename
    return written
