"""Cross-model consistency: models_chi2 against an independent chi-square
computation, and the flag on exactly the stars whose two models disagree."""

from __future__ import annotations

import numpy as np
from scipy.stats import chi2 as chi2_dist

from starlabel.inference.consistency import P_DISAGREE, disagreement
from starlabel.inference.refine import with_start
from starlabel.models.base import LabelPrediction
from starlabel.spectra import Flag


def test_disagreement_matches_a_star_by_star_chi_square():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(50, 3))
    b = rng.normal(size=(50, 3)) * 2.0
    ea, eb = rng.uniform(0.5, 2.0, (2, 50, 3))
    a[4, 1] = np.nan  # left out of star 4
    eb[7, :] = np.nan  # star 7 has nothing to compare
    reduced, bad = disagreement(a, ea, b, eb)
    for i in range(50):
        terms = [
            (a[i, k] - b[i, k]) ** 2 / (ea[i, k] ** 2 + eb[i, k] ** 2)
            for k in range(3)
            if np.isfinite(a[i, k]) and np.isfinite(eb[i, k])
        ]
        if not terms:
            assert np.isnan(reduced[i]) and not bad[i]
            continue
        assert np.isclose(reduced[i], np.mean(terms))
        assert bad[i] == (chi2_dist.sf(np.sum(terms), len(terms)) < P_DISAGREE)
    assert bad.any() and not bad.all()


def test_consistent_models_are_rarely_flagged_and_a_mismatch_always():
    rng = np.random.default_rng(0)
    n, names = 4000, ("teff", "logg")
    sigma = np.array([80.0, 0.1])
    truth = np.column_stack([rng.uniform(4000, 6500, n), rng.uniform(1, 4.5, n)])
    fit = truth + rng.normal(size=(n, 2)) * sigma * 0.6
    start = truth + rng.normal(size=(n, 2)) * sigma * 0.8  # combined: sigma
    start[:20, 1] += 8 * sigma[1]  # 20 stars the start model reads wrong
    pred = LabelPrediction(
        names, fit, np.full((n, 2), sigma * 0.6), np.full((n, 2), np.nan)
    )
    out = with_start(pred, names, start, np.full((n, 2), sigma * 0.8))
    flagged = (out.flags & int(Flag.MODELS_DISAGREE)) > 0
    assert flagged[:20].all()
    assert flagged[20:].mean() < 5 * P_DISAGREE
    assert np.isclose(
        np.median(out.columns["models_chi2"][20:]), chi2_dist.median(2) / 2, rtol=0.1
    )
    np.testing.assert_array_equal(out.columns["logg_start"], start[:, 1])
    # a start without errors (a catalogue with no _err columns): no chi2, no flag
    plain = with_start(pred, names, start, np.full((n, 2), np.nan))
    assert "models_chi2" not in plain.columns and plain.flags is None
