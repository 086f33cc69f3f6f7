"""The leakage diagnostic on constructed catalogues whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from starlabel.diagnostics.leakage import is_abundance, leakage


@pytest.fixture
def truth():
    rng = np.random.default_rng(1)
    n = 2000
    return {
        "teff": rng.uniform(4000, 6500, n),
        "fe_h": rng.normal(-0.3, 0.4, n),
        "mg_fe": rng.uniform(-0.15, 0.45, n),
        "al_fe": rng.uniform(-0.15, 0.6, n),
        "si_fe": rng.uniform(-0.15, 0.4, n),
    }


def test_a_prediction_equal_to_the_truth_has_slope_1_and_no_leak(truth):
    rows = leakage(dict(truth), truth)
    assert [r.name for r in rows] == ["mg_fe", "al_fe", "si_fe"]
    for r in rows:
        assert r.slope == pytest.approx(1.0, abs=1e-9)
        assert abs(r.leak) < 1e-9


def test_a_prediction_made_of_another_label_has_slope_0_and_leak_1(truth):
    # [Al/Fe] read from the Mg lines, in Al's units: the population prior at work
    spread = np.std(truth["al_fe"]) / np.std(truth["mg_fe"])
    pred = {"al_fe": 0.1 + spread * (truth["mg_fe"] - truth["mg_fe"].mean())}
    (row,) = leakage(pred, truth)
    assert row.slope == pytest.approx(0.0, abs=1e-9)
    assert row.leak_label == "mg_fe" and row.leak == pytest.approx(1.0, abs=1e-9)


def test_noise_alone_gives_slopes_consistent_with_0(truth):
    rng = np.random.default_rng(7)
    pred = {k: rng.normal(0.1, 0.1, truth[k].size) for k in ("mg_fe", "al_fe", "si_fe")}
    for r in leakage(pred, truth):
        assert abs(r.slope) < 4 * r.slope_err, r
        assert abs(r.leak) < 4 * r.leak_err, r
        assert 0 < r.slope_err < 0.05


def test_the_allowed_slope_is_what_an_estimator_at_the_bound_reaches(truth):
    """Independent check: the posterior mean of a Gaussian prior (the label's
    spread) and a measurement at the Cramer-Rao bound c shrinks by s^2/(s^2+c^2)."""
    rng = np.random.default_rng(3)
    x = truth["mg_fe"]
    s2, c = np.var(x), 0.08
    observed = x + rng.normal(0, c, x.size)
    pred = {"mg_fe": x.mean() + (observed - x.mean()) * s2 / (s2 + c**2)}
    (row,) = leakage(pred, truth, {"mg_fe": np.full(x.size, c)})
    assert row.allowed == pytest.approx(s2 / (s2 + c**2))
    assert abs(row.slope - row.allowed) < 4 * row.slope_err
    assert row.verdict == "measurement"
    prior = {"mg_fe": x.mean() + 0.2 * (observed - x.mean())}
    (row,) = leakage(prior, truth, {"mg_fe": np.full(x.size, c)})
    assert row.verdict == "prior"
    (row,) = leakage(prior, truth)
    assert row.verdict == "not assessed"
    (row,) = leakage(pred, truth, {"mg_fe": np.full(x.size, 2 * np.std(x))})
    assert row.allowed == pytest.approx(0.2) and row.verdict == "beyond the bound"


def test_abundances_are_x_fe_and_a_x():
    assert is_abundance("mg_fe") and is_abundance("a_li")
    assert not is_abundance("fe_h") and not is_abundance("teff")


def test_evaluate_writes_the_leakage_of_a_catalogue(tmp_path, truth):
    """End to end: a catalogue whose [Al/Fe] is made of [Mg/Fe] is called a prior
    in leakage.csv; its [Mg/Fe], at the bound, a measurement."""
    import csv

    import astropy.units as u
    from astropy.table import Table

    from starlabel.diagnostics.report_eval import write_evaluation
    from starlabel.spectra import Spectra, write_dataset

    rng = np.random.default_rng(5)
    n = truth["teff"].size
    ids = [f"s{i}" for i in range(n)]
    crlb = {k: np.full(n, 0.03) for k in ("mg_fe", "al_fe")}
    ref = Spectra(
        np.ones((n, 8)),
        np.linspace(5000, 5007, 8) * u.AA,
        np.full((n, 8), 1e4),
        truth,
        meta={"id": ids},
        labels_crlb=crlb,
    )
    write_dataset(ref, tmp_path / "truth.h5")
    cat = Table({"id": ids})
    cat["mg_fe"] = truth["mg_fe"] + rng.normal(0, 0.03, n)
    cat["al_fe"] = 0.2 + 0.5 * (truth["mg_fe"] - 0.15)
    cat.write(tmp_path / "cat.fits")
    result = write_evaluation(
        tmp_path / "cat.fits", tmp_path / "truth.h5", tmp_path / "ev"
    )
    with open(tmp_path / "ev" / "leakage.csv") as f:
        rows = {r["label"]: r for r in csv.DictReader(f)}
    assert rows["mg_fe"]["verdict"] == "measurement"
    assert (
        rows["al_fe"]["verdict"] == "prior"
        and rows["al_fe"]["top_leak_label"] == "mg_fe"
    )
    assert [r.name for r in result.leakage] == ["mg_fe", "al_fe"]
