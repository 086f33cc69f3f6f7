"""Similarity map: reuse of the training map, OOD scores, persistence; HDBSCAN disc split."""

import numpy as np
import pytest

from starlabel.diagnostics.science import (
    cluster_spreads,
    disc_split,
    li_rich_candidates,
    pearson_r,
)
from starlabel.diagnostics.similarity import SimilarityMap


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, (150, 30)), rng.normal(5, 1, (150, 30))])
    return x, SimilarityMap.fit(x, n_components=10, perplexity=20, seed=0)


def test_transform_places_a_training_spectrum_next_to_its_own_embedding(fitted):
    x, smap = fitted
    pos = np.arange(0, len(smap.fit_rows), 24)  # rows of the map ...
    idx = smap.fit_rows[pos]  # ... and of x (20 % were held out to calibrate)
    assert len(smap.embedding) == 240
    xy = smap.transform(x[idx])
    extent = np.ptp(smap.embedding, axis=0).max()
    own = np.linalg.norm(xy - smap.embedding[pos], axis=1)
    assert np.median(own) < 0.03 * extent
    # and in its own group's part of the map
    nearest = np.argmin(
        np.linalg.norm(smap.embedding[None] - xy[:, None], axis=2), axis=1
    )
    assert np.all((smap.fit_rows[nearest] < 150) == (idx < 150))
    assert smap.is_inner(xy).mean() >= 0.9


def test_ood_score_flags_spectra_unlike_the_training_set(fitted, tmp_path):
    x, smap = fitted
    rng = np.random.default_rng(1)
    like = rng.normal(0, 1, (50, 30))
    unlike = rng.normal(0, 1, (50, 30)) + 12.0
    s_like, s_unlike = smap.ood_score(like), smap.ood_score(unlike)
    assert np.mean(s_like > 1) < 0.1 and np.all(s_unlike > 2)
    smap.save(tmp_path / "m.safetensors")
    back = SimilarityMap.load(tmp_path / "m.safetensors")
    np.testing.assert_allclose(back.ood_score(unlike), s_unlike)
    np.testing.assert_allclose(back.transform(x[:3]), smap.transform(x[:3]), atol=1e-6)
    with pytest.raises(ValueError, match="pixels"):
        smap.ood_score(np.zeros((2, 7)))


def test_hdbscan_recovers_two_separated_populations():
    rng = np.random.default_rng(0)
    thin = np.column_stack([rng.normal(-0.1, 0.15, 400), rng.normal(0.02, 0.03, 400)])
    thick = np.column_stack([rng.normal(-0.6, 0.15, 300), rng.normal(0.30, 0.03, 300)])
    x = np.concatenate([thin, thick])
    truth = np.array(["thin"] * 400 + ["thick"] * 300)
    split = disc_split(x[:, 0], x[:, 1])
    assert split.n_clusters >= 2
    assert split.fraction_correct(truth) > 0.97
    assert split.noise_fraction < 0.3
    # swapping the truth labels must break it (the thick disc is the alpha-rich one)
    assert split.fraction_correct(truth[::-1]) < 0.5


def test_cluster_statistics():
    cl = np.array(["a"] * 6 + ["b"] * 6 + [""] * 3)
    v = np.r_[np.arange(6.0), np.full(6, 2.0), [9, 9, 9]]
    out = cluster_spreads(cl, v)
    assert set(out) == {"a", "b"} and out["a"] == (
        6,
        pytest.approx(np.std(np.arange(6.0), ddof=1)),
    )
    assert pearson_r([1, 2, 3, 4], [8, 6, 4, 2]) == pytest.approx(-1.0)
    mask = li_rich_candidates(np.array([2.5, 2.5, 1.0]), np.array([2.0, 4.0, 2.0]))
    assert mask.tolist() == [True, False, False]
