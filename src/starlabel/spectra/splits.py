"""Random and stratified assignment of items to the parts of a split."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["assign_split"]


def assign_split(
    n: int,
    fractions: Sequence[float],
    *,
    seed: int = 0,
    strata: np.ndarray | None = None,
) -> np.ndarray:
    """Part index (0, 1, ...) of each of ``n`` items for a random or stratified split.

    Part sizes are exact: ``n * fraction`` rounded by largest remainder. Random:
    a seeded permutation. Stratified on a label (``strata``): items are ordered by
    the label (ties and the order of unknown values, which go last, are random) and
    the parts are interleaved evenly along that order, each starting at a random
    offset, so every part samples the label's distribution from end to end.

    Example:
        >>> np.bincount(assign_split(10, (0.6, 0.2, 0.2), seed=1)).tolist()
        [6, 2, 2]
        >>> np.bincount(assign_split(10, (0.6, 0.2, 0.2), strata=np.arange(10.))).tolist()
        [6, 2, 2]
    """
    frac = np.asarray(fractions, dtype=float)
    if (
        frac.ndim != 1
        or frac.size < 1
        or np.any(frac <= 0)
        or abs(frac.sum() - 1) > 1e-6
    ):
        raise ValueError(
            f"fractions: expected positive numbers summing to 1, got {list(fractions)}"
        )
    rng = np.random.default_rng(seed)
    exact = frac * n
    counts = np.floor(exact).astype(int)
    counts[np.argsort(-(exact - counts), kind="stable")[: n - counts.sum()]] += 1
    if strata is None:
        part = np.empty(n, dtype=int)
        part[rng.permutation(n)] = np.repeat(np.arange(frac.size), counts)
        return part
    values = np.asarray(strata, dtype=float)
    if values.shape != (n,):
        raise ValueError(f"strata: expected shape ({n},), got {values.shape}")
    key = np.where(np.isfinite(values), values, np.inf)
    order = np.lexsort((rng.random(n), key))
    # Slot j of part k sits at (j + u_k) * n / c_k along the ordered items.
    slots = np.concatenate(
        [(np.arange(c) + rng.random()) * n / c for c in counts if c > 0]
    )
    owners = np.concatenate([np.full(c, k) for k, c in enumerate(counts) if c > 0])
    sequence = owners[np.argsort(slots, kind="stable")]
    part = np.empty(n, dtype=int)
    part[order] = sequence
    return part
