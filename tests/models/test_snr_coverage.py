"""Errors that stay calibrated below the validation stars' S/N, and an OOD score
that noise alone does not raise (issue 29, points 1 and 2)."""

import astropy.units as u
import numpy as np
import pytest

from starlabel.models.ood import fit_ood
from starlabel.models.recalibration import below_snr_range, fit_calibration
from starlabel.models.snr_coverage import calibration_set, degraded
from starlabel.spectra import Spectra

N_PIX = 60
TEMPLATE = np.exp(-0.5 * ((np.arange(N_PIX) - 30) / 4.0) ** 2)  # one absorption line


def toy_stars(n: int, snr: float | tuple[float, float], seed: int) -> Spectra:
    """flux = 1 - y * line + noise at S/N ``snr`` (a value or a log-uniform range)."""
    rng = np.random.default_rng(seed)
    y = rng.uniform(0.2, 0.8, n)
    s = (
        np.full(n, float(snr))
        if np.isscalar(snr)
        else np.exp(rng.uniform(*np.log(snr), n))
    )
    sigma = 1.0 / s[:, None] * np.ones(N_PIX)
    flux = 1.0 - y[:, None] * TEMPLATE + rng.normal(0, 1, (n, N_PIX)) * sigma
    ids = np.array([f"s{seed}-{i}" for i in range(n)])
    return Spectra(
        flux,
        (5000.0 + np.arange(N_PIX)) * u.AA,
        1.0 / sigma**2,
        {"y": y},
        meta={"id": ids},
    )


class LineDepth:
    """The least-squares depth of the line, reporting a raw error that ignores the
    noise (0.01 whatever the S/N), as an overconfident network would. Its true
    error is (sum line^2 ivar)^-1/2, an independent computation the test checks."""

    _config = None

    @staticmethod
    def predict(s: Spectra) -> tuple[np.ndarray, np.ndarray]:
        w = s.ivar * TEMPLATE
        y = -((s.flux - 1.0) * w).sum(1) / (w * TEMPLATE).sum(1)
        return y, np.full(s.n_spectra, 0.01)


def z_of(cal, stars: Spectra) -> np.ndarray:
    y, raw = LineDepth.predict(stars)
    return (y - stars.labels["y"]) / cal.apply(raw, stars.snr())


def test_degraded_copies_lower_snr_by_the_training_rule_and_keep_ivar_true():
    stars = toy_stars(3000, 100.0, 0)
    low = degraded(stars, snr_min=5.0, seed=1)
    snr = np.sqrt(np.median(low.ivar, axis=1))  # the continuum's S/N
    # the rule brings each star to a target between 5 and its own S/N (its
    # ``snr()``, a little under 100 with the line in the median)
    assert snr.min() >= 5.0 * stars.snr().min() / 100 and snr.max() <= 100.0 + 1e-6
    # log-uniform between 5 and 100: median near sqrt(5 * 100)
    assert np.median(snr) == pytest.approx(np.sqrt(500.0), rel=0.1)
    # the inverse variance describes the noise actually there (pull std 1)
    truth = 1.0 - stars.labels["y"][:, None] * TEMPLATE
    pull = (low.flux - truth) * np.sqrt(low.ivar)
    assert np.std(pull) == pytest.approx(1.0, abs=0.02)
    assert all(i.endswith("~degraded") for i in low.ids)


def test_calibration_at_snr_50_only_flags_snr_10_stars_while_degraded_copies_cover_them():
    valid = toy_stars(1000, 50.0, 1)
    test = toy_stars(2000, 10.0, 2)
    y, raw = LineDepth.predict(valid)
    only50 = fit_calibration(y, raw, valid.labels["y"], valid.snr())
    assert below_snr_range({"y": only50}, test.snr()).all()

    cover = calibration_set(LineDepth(), valid, 2000, seed=3)
    y, raw = LineDepth.predict(cover)
    covered = fit_calibration(y, raw, cover.labels["y"], cover.snr())
    assert covered.snr_range[0] < 6.0
    assert not below_snr_range({"y": covered}, test.snr()).any()
    assert 0.85 <= np.std(z_of(covered, test)) <= 1.2
    # and on the S/N 50 stars themselves it stays calibrated
    assert 0.85 <= np.std(z_of(covered, toy_stars(2000, 50.0, 4))) <= 1.2


def test_below_the_calibrated_snr_the_error_widens_by_the_documented_rule():
    valid = toy_stars(1000, (20.0, 80.0), 5)
    y, raw = LineDepth.predict(valid)
    cal = fit_calibration(y, raw, valid.labels["y"], valid.snr())
    lo, hi = cal.snr_range
    s = np.full(3, 0.01)
    at_lo = cal.apply(s[:1], np.array([lo]))[0]
    at_hi = cal.apply(s[:1], np.array([hi]))[0]
    # below: the map's value at lo times lo / snr, computed by hand from a, b, c, p
    snr = np.array([lo / 2, lo / 4, hi * 3])
    by_hand = np.sqrt(
        (cal.a * s) ** 2 + cal.b**2 + (cal.c * (100 / np.maximum(snr, 0)) ** cal.p) ** 2
    )
    out = cal.apply(s, snr)
    assert out[0] == pytest.approx(by_hand[0] * 2) and out[1] == pytest.approx(
        by_hand[1] * 4
    )
    assert out[0] > at_lo
    # above: never smaller than at the top of the range
    assert out[2] == pytest.approx(at_hi)
    assert below_snr_range({"y": cal}, snr).tolist() == [True, True, False]


def noise_signal(rng, snr: np.ndarray, n_labels: int = 2) -> np.ndarray:
    """An uncertainty signal that grows as 1/S/N, as a posterior width does."""
    return (30.0 / snr)[:, None] * np.exp(rng.normal(0, 0.3, (snr.size, n_labels)))


def test_ood_score_does_not_rise_with_noise_alone_but_still_sees_novelty():
    rng = np.random.default_rng(6)
    d = 6
    train_f = rng.normal(0, 1, (3000, d))
    held_f = rng.normal(0, 1, (2000, d))
    held_snr = np.exp(rng.uniform(np.log(5), np.log(150), 2000))
    extra = {"width": noise_signal(rng, held_snr)}
    args = (train_f, train_f[:, :2], held_f, held_f[:, :2], extra)
    ood = fit_ood(*args, heldout_snr=held_snr)
    # before: held-out stars as they are (S/N 30-150), the score blind to S/N
    bright = held_snr > 30
    blind = fit_ood(
        train_f,
        train_f[:, :2],
        held_f[bright],
        held_f[bright, :2],
        {"width": extra["width"][bright]},
    )

    def flagged(model, snr, shift=0.0):
        f = rng.normal(0, 1, (snr.size, d)) + shift
        score, _ = model.score(f, f[:, :2], {"width": noise_signal(rng, snr)}, snr)
        return np.mean(score > 1)

    low, high = np.full(3000, 6.0), np.full(3000, 120.0)
    assert flagged(ood, low) <= 0.05 and flagged(ood, high) <= 0.05
    assert abs(flagged(ood, low) - flagged(ood, high)) < 0.03
    assert flagged(blind, low) > 0.3  # what the S/N conditioning prevents
    # novelty is still seen at low S/N
    assert flagged(ood, low, shift=4.0) > 0.95
