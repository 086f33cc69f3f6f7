"""Quality cuts on S/N, label uncertainties and catalogue flags."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..container import Spectra

__all__ = ["quality_mask"]


def quality_mask(
    spectra: Spectra,
    *,
    min_snr: float | None = None,
    max_label_err: Mapping[str, float] | None = None,
    flag_column: str | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Which spectra pass the quality cuts, and why the others fail.

    Args:
        spectra: the dataset.
        min_snr: minimum S/N (``meta['snr']`` if present, else :meth:`Spectra.snr`).
        max_label_err: label -> largest accepted reference uncertainty; a missing
            uncertainty fails the cut (Ambrosch et al. 2023: 200 K, 0.3 dex, 0.2 dex).
        flag_column: a meta column of catalogue flags; non-zero or non-empty fails.

    Returns:
        ``(keep, reasons)``: ``(n_spectra,)`` bool, and one reason per spectrum
        (empty string when kept).
    """
    n = spectra.n_spectra
    reasons = [""] * n
    keep = np.ones(n, dtype=bool)

    def fail(mask: np.ndarray, text) -> None:
        for i in np.flatnonzero(mask & keep):
            reasons[i] = text(i)
        keep[mask] = False

    if min_snr is not None:
        snr = (
            spectra.meta["snr"].astype(float)
            if "snr" in spectra.meta
            else spectra.snr()
        )
        fail(~(snr >= min_snr), lambda i: f"S/N {snr[i]:.1f} below {min_snr:g}")
    for name, limit in (max_label_err or {}).items():
        if name not in spectra.labels_err:
            raise ValueError(f"max_label_err: no uncertainty column for label {name!r}")
        err = spectra.labels_err[name]
        fail(
            ~(err <= limit),
            lambda i, e=err, nm=name, lim=limit: f"{nm}_err {e[i]:.3g} above {lim:g}",
        )
    if flag_column is not None:
        col = spectra.meta[flag_column]
        flagged = (
            (col.astype(str) != "") & (col.astype(str) != "0")
            if col.dtype.kind == "U"
            else (np.nan_to_num(col.astype(float)) != 0)
        )
        fail(flagged, lambda i: f"{flag_column} = {col[i]}")
    return keep, reasons
