"""The similarity-map pipeline: fit a map on training spectra, place new spectra in
it, and write ``map.safetensors``, ``map.png``, ``map.csv`` and ``summary.txt``
together (all or nothing); and an ``ood_score`` function for streaming prediction.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._atomic import check_output_dir
from .._staging import staged_dir
from .._typing import PathLike
from ..errors import StarlabelInputError
from ..spectra.container import Spectra
from ..spectra.preprocess import dense_flux
from .plots._save import save_png
from .similarity import SimilarityMap

__all__ = ["MAP_FILES", "MapResult", "build_map", "map_summary", "ood_scorer"]

#: The files a map folder holds.
MAP_FILES = ("map.safetensors", "map.png", "map.csv", "summary.txt")


@dataclass(frozen=True)
class MapResult:
    """What :func:`build_map` made.

    Attributes:
        map: the fitted map.
        n_train: training spectra in the map.
        inner: ``(n_data,)`` training-like flags of the placed spectra (None
            without data).
        ood_score: ``(n_data,)`` scores of the placed spectra (None without data).
        summary: the text of ``summary.txt``.
        files: the files written.
    """

    map: SimilarityMap
    n_train: int
    inner: np.ndarray | None
    ood_score: np.ndarray | None
    summary: str
    files: tuple[Path, ...]


def map_summary(
    n_train: int, inner: np.ndarray | None, score: np.ndarray | None
) -> str:
    """The lines of ``summary.txt``."""
    lines = [f"training spectra in the map: {n_train}"]
    if inner is not None:
        lines.append(
            f"placed spectra: {inner.size}; training-like (inner) {int(inner.sum())}, "
            f"unlike (outer) {int((~inner).sum())}"
        )
    if score is not None:
        lines.append(
            f"ood_score > 1 (unlike, PCA neighbour distance): {int((score > 1).sum())}"
        )
    return "\n".join(lines) + "\n"


def build_map(
    train: Spectra,
    out_dir: PathLike,
    data: Spectra | None = None,
    *,
    n_components: int = 50,
    perplexity: float = 30.0,
    max_train: int = 5000,
    colour: str = "teff",
    seed: int = 0,
    overwrite: bool = False,
    train_source: str | None = None,
    data_source: str | None = None,
) -> MapResult:
    """Fit a similarity map on ``train`` and place ``data`` into it.

    Every input is checked before anything is computed or written (the data must
    be on the training grid; ``out_dir`` must be new, empty, or with ``overwrite``
    an earlier map of starlabel), and the folder appears complete or not at all.

    Args:
        train: training spectra; a random ``max_train`` of them (seeded) define
            the map.
        out_dir: folder for ``MAP_FILES``.
        data: spectra to place into the map.
        n_components: PCA components before t-SNE.
        perplexity: t-SNE perplexity.
        max_train: at most this many training spectra.
        colour: label that colours the training points in ``map.png``.
        seed: seeds the subsample, PCA and t-SNE.
        overwrite: replace an earlier map in ``out_dir``.
        train_source, data_source: file names for error messages.
    """
    from .plots.latent import plot_similarity_map

    out = check_output_dir(out_dir, overwrite=overwrite, command="map")
    targets = [out / name for name in MAP_FILES]
    if data is not None and (
        data.n_pixels != train.n_pixels
        or not np.allclose(data.wavelength_aa, train.wavelength_aa, rtol=0, atol=1e-4)
    ):
        raise StarlabelInputError(
            f"wavelength grid ({data.n_pixels} px) differs from the training set's "
            f"({train.n_pixels} px); resample it with `starlabel prepare --grid`",
            path=data_source,
        )
    if train.n_spectra < 10:
        raise StarlabelInputError(
            f"{train.n_spectra} training spectra: a map needs at least 10",
            path=train_source,
        )
    if train.n_spectra > max_train:
        keep = np.random.default_rng(seed).choice(
            train.n_spectra, max_train, replace=False
        )
        train = train[np.sort(keep)]
    smap = SimilarityMap.fit(
        dense_flux(train)[0],
        n_components=n_components,
        perplexity=perplexity,
        seed=seed,
    )
    rows = [
        (i, "train", *xy, d, True, np.nan)
        for i, xy, d in zip(
            train.ids[smap.fit_rows],
            smap.embedding,
            smap.distance(smap.embedding),
            strict=True,
        )
    ]
    inner = score = xy = None
    if data is not None:
        flux = dense_flux(data)[0]
        xy = smap.transform(flux)
        dist, score = smap.distance(xy), smap.ood_score(flux)
        inner = dist <= smap.threshold
        rows += list(
            zip(
                data.ids,
                ["data"] * data.n_spectra,
                xy[:, 0],
                xy[:, 1],
                dist,
                inner,
                score,
                strict=True,
            )
        )
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["id", "set", "x", "y", "map_distance", "inner", "ood_score"])
    writer.writerows(rows)
    c = train.labels[colour][smap.fit_rows] if colour in train.labels else None
    fig, _ = plot_similarity_map(
        smap.embedding, xy, inner, colour=c, colour_label=colour
    )
    text = map_summary(train.n_spectra, inner, score)
    with staged_dir(out, command="map") as stage:
        files = [stage / name for name in MAP_FILES]
        save_png(fig, files[1], dpi=90)
        smap.save(files[0])
        files[2].write_text(buf.getvalue(), encoding="utf-8")
        files[3].write_text(text, encoding="utf-8")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return MapResult(smap, train.n_spectra, inner, score, text, tuple(targets))


def ood_scorer(path: PathLike) -> Callable[[Spectra], np.ndarray]:
    """``ood_score(spectra)`` of a saved map (``map.safetensors``), for
    :func:`starlabel.inference.predict_file`."""
    smap = SimilarityMap.load(path)

    def score(spectra: Spectra) -> np.ndarray:
        return smap.ood_score(dense_flux(spectra)[0])

    return score
