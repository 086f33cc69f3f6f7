"""Best-fit spectra of the per-star emulator fit: observed flux with its noise, the
emulated spectrum at the refined labels, and the residual, for chosen stars."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._typing import PathLike
from ..errors import StarlabelInputError
from ..spectra.container import Spectra

__all__ = ["best_fit_spectra", "plot_star_fits", "write_star_fits"]


def best_fit_spectra(
    emulator: Any, spectra: Spectra, catalogue: Any, ids: Sequence[str]
) -> list[dict[str, Any]]:
    """For each id: wavelength, observed flux, its 1-sigma (NaN where masked), the
    emulated flux at the catalogue's labels, the residual and the reduced chi^2
    (NaN when the catalogue has no ``chi2``).

    Raises:
        StarlabelInputError: an id that is not in the dataset or the catalogue, or a
            catalogue without the emulator's labels.
    """
    cat_row = {str(s): i for i, s in enumerate(np.asarray(catalogue["id"]).astype(str))}
    data_row = {s: i for i, s in enumerate(spectra.ids.tolist())}
    missing = [n for n in emulator.label_names_ if n not in catalogue.colnames]
    if missing:
        raise StarlabelInputError(
            f"the catalogue lacks the emulator's labels {missing}"
        )
    out = []
    for sid in ids:
        if sid not in data_row or sid not in cat_row:
            where = "dataset" if sid not in data_row else "catalogue"
            raise StarlabelInputError(f"not in the {where}", star=sid)
        i, j = data_row[sid], cat_row[sid]
        labels = np.array([float(catalogue[n][j]) for n in emulator.label_names_])
        ivar = spectra.ivar[i]
        # pixels masked in this spectrum: neither data nor a model worth drawing
        model = np.where(ivar > 0, emulator.emulate(labels[None])[0], np.nan)
        sigma = np.where(ivar > 0, 1.0 / np.sqrt(np.where(ivar > 0, ivar, 1.0)), np.nan)
        flux = np.where(ivar > 0, spectra.flux[i], np.nan)
        out.append(
            {
                "id": sid,
                "wavelength": spectra.wavelength_aa,
                "flux": flux,
                "sigma": sigma,
                "model": model,
                "residual": flux - model,
                "chi2": float(catalogue["chi2"][j])
                if "chi2" in catalogue.colnames
                else float("nan"),
                "labels": dict(zip(emulator.label_names_, labels, strict=True)),
            }
        )
    return out


def plot_star_fits(fits: Sequence[dict[str, Any]]) -> Any:
    """One row pair per star (spectrum + model above, residual with the +-1 sigma
    noise band below), one column per wavelength segment."""
    from .plots.latent import wavelength_segments
    from .plots.spectra import _agg

    plt = _agg()
    segs = wavelength_segments(fits[0]["wavelength"])
    fig, axes = plt.subplots(
        2 * len(fits),
        len(segs),
        figsize=(5.5 * len(segs), 3.2 * len(fits)),
        squeeze=False,
        gridspec_kw={"height_ratios": [2, 1] * len(fits)},
        constrained_layout=True,
    )
    for r, fit in enumerate(fits):
        wl = fit["wavelength"]
        for c, seg in enumerate(segs):
            top, bottom = axes[2 * r, c], axes[2 * r + 1, c]
            top.plot(wl[seg], fit["flux"][seg], color="0.3", lw=0.6, label="observed")
            top.plot(
                wl[seg],
                fit["model"][seg],
                color="C3",
                lw=0.7,
                label="emulator at the refined labels",
            )
            s = fit["sigma"][seg]
            bottom.plot(
                wl[seg],
                fit["residual"][seg],
                color="C0",
                lw=0.5,
                label="observed - model",
            )
            for sign in (1, -1):  # the noise band, above the residual
                bottom.plot(
                    wl[seg],
                    sign * s,
                    color="C1",
                    lw=0.8,
                    zorder=3,
                    label="+-1 sigma noise" if sign > 0 else None,
                )
            bottom.axhline(0, color="k", lw=0.5)
            bottom.set_xlabel("wavelength [Angstrom]")
            if c == 0:
                first = [
                    k for k in ("teff", "logg", "fe_h", "mg_fe") if k in fit["labels"]
                ]
                shown = first or list(fit["labels"])[:4]
                text = ", ".join(
                    f"{k} {fit['labels'][k]:.0f}"
                    if k == "teff"
                    else f"{k} {fit['labels'][k]:+.2f}"
                    for k in shown
                )
                top.set_title(
                    f"{fit['id']}: {text}; reduced chi^2 {fit['chi2']:.2f}",
                    fontsize=8,
                    loc="left",
                )
                top.set_ylabel("normalised flux")
                bottom.set_ylabel("residual")
            if r == 0 and c == len(segs) - 1:
                top.legend(fontsize=7, loc="lower right")
                bottom.legend(fontsize=7, loc="lower right")
    return fig


def write_star_fits(
    emulator: Any, spectra: Spectra, catalogue: Any, ids: Sequence[str], path: PathLike
) -> Path:
    """Write :func:`plot_star_fits` of ``ids`` to ``path`` (PNG, atomically)."""
    import matplotlib.pyplot as plt

    fig = plot_star_fits(best_fit_spectra(emulator, spectra, catalogue, ids))
    from .plots._save import save_png

    out = save_png(fig, path, dpi=90)
    plt.close(fig)
    return out
