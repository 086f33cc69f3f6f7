"""Similarity maps: t-SNE (openTSNE) of spectra or latent vectors, reusable for new data.

A map is fitted once on the training set (spectra reduced to their first principal
components, then t-SNE); new spectra are placed into the same map with openTSNE's
``transform`` (their neighbours among the training points fix their position; the
training embedding does not move), never by refitting. A star is "training-like"
(inner) when its distance to the nearest training points in the map is below a
threshold calibrated on training spectra held out of the fit (a quantile of their
distances after ``transform``), "unlike" (outer) otherwise (Ambrosch 2023).

The map is stored as a safetensors file (reduced training features, embedding,
projection, settings); the neighbour graph is rebuilt on load. Nothing is pickled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._atomic import atomic_path

__all__ = ["SimilarityMap", "tsne"]


def _pca(x: np.ndarray, n_components: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.decomposition import PCA

    k = int(min(n_components, x.shape[0] - 1, x.shape[1]))
    pca = PCA(n_components=k, svd_solver="randomized", random_state=seed).fit(x)
    return pca.mean_.astype(np.float32), pca.components_.astype(np.float32)


def tsne(
    x: np.ndarray, *, perplexity: float = 30.0, seed: int = 0, n_iter: int = 500
) -> np.ndarray:
    """2-D t-SNE coordinates of the rows of ``x`` (openTSNE, PCA initialisation)."""
    from openTSNE import TSNE

    x = np.ascontiguousarray(x, dtype=np.float32)
    perplexity = float(min(perplexity, max(2.0, (x.shape[0] - 1) / 3)))
    emb = TSNE(perplexity=perplexity, n_iter=n_iter, random_state=seed, n_jobs=2).fit(x)
    return np.asarray(emb, dtype=np.float64)


def _knn_distance(
    reference: np.ndarray, x: np.ndarray, k: int, leave_one_out: bool = False
) -> np.ndarray:
    """Mean distance of rows of ``x`` to their ``k`` nearest rows of ``reference``
    (``leave_one_out``: ``x`` is ``reference``; each row's own zero is skipped)."""
    from sklearn.neighbors import NearestNeighbors

    k = min(k, len(reference) - 1)
    nn = NearestNeighbors(n_neighbors=k + int(leave_one_out)).fit(reference)
    d, _ = nn.kneighbors(x)
    return d[:, int(leave_one_out) :].mean(axis=1)


@dataclass
class SimilarityMap:
    """A t-SNE map of training spectra that places new spectra without refitting.

    Attributes:
        mean, components: the PCA projection (``(d,)``, ``(k, d)``).
        features: ``(n, k)`` projected training spectra.
        embedding: ``(n, 2)`` their t-SNE coordinates.
        perplexity: t-SNE perplexity.
        k_neighbors: neighbours whose mean distance in the map scores a star.
        threshold: map distance above which a star is "unlike" the training set.
        seed: random seed of PCA and t-SNE.
        feature_threshold: the same quantile for the neighbour distance in the PCA
            feature space (the unit of :meth:`ood_score`).
    """

    mean: np.ndarray
    components: np.ndarray
    features: np.ndarray
    embedding: np.ndarray
    perplexity: float = 30.0
    k_neighbors: int = 5
    threshold: float = np.inf
    seed: int = 0
    feature_threshold: float = np.inf

    @classmethod
    def fit(
        cls,
        x: np.ndarray,
        *,
        n_components: int = 50,
        perplexity: float = 30.0,
        k_neighbors: int = 5,
        quantile: float = 0.99,
        calibration: float = 0.2,
        seed: int = 0,
    ) -> SimilarityMap:
        """Fit on training rows ``x`` (n, d).

        A seeded ``calibration`` share of the rows (default 20 %) is held out: the
        PCA and the map are fitted on the rest, and both thresholds are the
        ``quantile`` of the held-out rows' neighbour distances (in the map after
        ``transform``, and in the PCA space). Calibrating on the fitted rows
        themselves would set the thresholds far too high: a noisy spectrum's own
        noise helps shape the principal components it is projected on."""
        x = np.asarray(x, dtype=np.float32)
        rng = np.random.default_rng(seed)
        n_cal = int(round(calibration * len(x))) if len(x) >= 20 else 0
        order = rng.permutation(len(x))
        cal, fit_rows = np.sort(order[:n_cal]), np.sort(order[n_cal:])
        mean, components = _pca(x[fit_rows], n_components, seed)
        features = (x[fit_rows] - mean) @ components.T
        emb = tsne(features, perplexity=perplexity, seed=seed)
        out = cls(
            mean,
            components,
            features,
            emb,
            float(perplexity),
            k_neighbors,
            np.inf,
            seed,
        )
        if n_cal:
            held = x[cal]
            out.threshold = float(
                np.quantile(out.distance(out.transform(held)), quantile)
            )
            out.feature_threshold = float(
                np.quantile(
                    _knn_distance(features, out.reduce(held), k_neighbors), quantile
                )
            )
        else:  # too few rows to hold any out: leave-one-out on the fitted rows
            out.threshold = float(
                np.quantile(out._distance(emb, leave_one_out=True), quantile)
            )
            own = _knn_distance(features, features, k_neighbors, leave_one_out=True)
            out.feature_threshold = float(np.quantile(own, quantile))
        out.fit_rows = fit_rows
        return out

    def reduce(self, x: np.ndarray) -> np.ndarray:
        """Project rows of ``x`` onto the map's principal components."""
        if np.shape(x)[-1] != self.mean.size:
            raise ValueError(
                f"spectra have {np.shape(x)[-1]} pixels, the map was made from {self.mean.size}; "
                "use spectra on the map's grid"
            )
        return (np.asarray(x, dtype=np.float32) - self.mean) @ self.components.T

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Map coordinates ``(n, 2)`` of new rows, placed into the fixed training map."""
        from openTSNE import TSNEEmbedding, affinity

        if not hasattr(self, "_tsne"):
            aff = affinity.PerplexityBasedNN(
                np.ascontiguousarray(self.features),
                perplexity=min(self.perplexity, max(2.0, (len(self.features) - 1) / 3)),
                random_state=self.seed,
                n_jobs=2,
            )
            self._tsne = TSNEEmbedding(
                np.ascontiguousarray(self.embedding), aff, random_state=self.seed
            )
        part = self._tsne.transform(np.ascontiguousarray(self.reduce(x)))
        return np.asarray(part, dtype=np.float64)

    def _distance(self, coords: np.ndarray, leave_one_out: bool = False) -> np.ndarray:
        return _knn_distance(self.embedding, coords, self.k_neighbors, leave_one_out)

    def ood_score(self, x: np.ndarray) -> np.ndarray:
        """Out-of-distribution score of rows of ``x`` without t-SNE: mean distance to
        the ``k_neighbors`` nearest training spectra in the PCA feature space, in units
        of the training set's own quantile (1 = as far as the most isolated 1 % of
        training stars; larger = less like the training set)."""
        d = _knn_distance(self.features, self.reduce(x), self.k_neighbors)
        return d / self.feature_threshold

    def distance(self, coords: np.ndarray) -> np.ndarray:
        """Mean distance of map points to their ``k_neighbors`` nearest training points."""
        return self._distance(np.asarray(coords, dtype=np.float64))

    def is_inner(self, coords: np.ndarray) -> np.ndarray:
        """True for training-like map points (distance <= threshold)."""
        return self.distance(coords) <= self.threshold

    # ------------------------------------------------------------ persistence
    def save(self, path: str | Path, *, atomic: bool = True) -> Path:
        """Write the map to one safetensors file (atomically unless the caller
        writes a temporary path of its own: ``atomic=False``)."""
        from safetensors.numpy import save_file

        path = Path(path)
        arrays = {
            "mean": self.mean,
            "components": self.components,
            "features": self.features.astype(np.float32),
            "embedding": self.embedding,
        }
        meta = {
            "format": "starlabel-map",
            "version": "1",
            "settings": json.dumps(
                {
                    "perplexity": self.perplexity,
                    "k_neighbors": self.k_neighbors,
                    "threshold": self.threshold,
                    "seed": self.seed,
                    "feature_threshold": self.feature_threshold,
                }
            ),
        }
        arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
        if not atomic:
            save_file(arrays, str(path), metadata=meta)
            return path
        with atomic_path(path) as tmp:
            save_file(arrays, str(tmp), metadata=meta)
        return path

    @classmethod
    def load(cls, path: str | Path) -> SimilarityMap:
        """Read a map written by :meth:`save`."""
        from safetensors import safe_open

        from ..errors import StarlabelInputError

        try:
            with safe_open(str(path), framework="numpy") as f:
                meta = f.metadata() or {}
                if meta.get("format") != "starlabel-map":
                    raise ValueError("not a starlabel map file")
                arrays = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
            s = json.loads(meta["settings"])
            return cls(
                arrays["mean"],
                arrays["components"],
                arrays["features"],
                arrays["embedding"],
                float(s["perplexity"]),
                int(s["k_neighbors"]),
                float(s["threshold"]),
                int(s["seed"]),
                float(s["feature_threshold"]),
            )
        except Exception as exc:  # safetensors raises its own types for damaged files
            problem = " ".join(str(exc).split())[:160] or type(exc).__name__
            raise StarlabelInputError(
                f"not a readable similarity map (map.safetensors from `starlabel map`): "
                f"{problem}",
                path=path,
            ) from exc
