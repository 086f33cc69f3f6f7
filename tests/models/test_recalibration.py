"""Error recalibration (models.recalibration), the OOD score (models.ood) and
``starlabel calibrate``, each against an independent construction."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import starlabel
from starlabel.cli.main import app
from starlabel.models import CNNConfig, DeepEnsembleRegressor, EnsembleConfig
from starlabel.models.ood import fit_ood
from starlabel.models.recalibration import fit_calibration, fit_calibration_pairs
from starlabel.spectra import Spectra, write_dataset
from starlabel.training import TrainConfig

from .gandalf_toy import toy_spectra

runner = CliRunner()


def _overconfident(n, seed, factor=3.0):
    """Truth 0; the true error grows with 1/S/N plus a floor; the model reports
    that error divided by ``factor``."""
    rng = np.random.default_rng(seed)
    snr = rng.uniform(10, 150, n)
    true_sigma = np.hypot(0.02, 2.0 / snr) * rng.uniform(0.7, 1.3, n)
    pred = rng.normal(0.0, true_sigma)
    return pred, true_sigma / factor, np.zeros(n), snr


def test_recalibration_fixes_a_3x_overconfident_model_on_held_out_stars():
    pred, raw, ref, snr = _overconfident(4000, 0)
    cal = fit_calibration(pred, raw, ref, snr)
    assert cal.z_std_raw == pytest.approx(3.0, rel=0.05)
    # held-out stars, drawn independently
    pred2, raw2, ref2, snr2 = _overconfident(4000, 1)
    z = (pred2 - ref2) / cal.apply(raw2, snr2)
    assert np.std(z) == pytest.approx(1.0, abs=0.05)
    assert np.mean(np.abs(z) <= 1) == pytest.approx(0.683, abs=0.03)
    # every star's error: within 15 % of its true error (the model knew the shape)
    ratio = cal.apply(raw2, snr2) / (3.0 * raw2)
    assert np.median(np.abs(ratio - 1)) < 0.15


def test_recalibration_is_monotone_in_sigma_and_in_snr():
    pred, raw, ref, snr = _overconfident(2000, 2)
    cal = fit_calibration(pred, raw, ref, snr)
    sigma = np.linspace(0.0, 1.0, 200)
    assert np.all(np.diff(cal.apply(sigma, np.full(200, 50.0))) >= 0)
    snr_grid = np.linspace(5, 300, 200)
    assert np.all(np.diff(cal.apply(np.full(200, 0.05), snr_grid)) <= 0)
    # a spectrum without S/N gets the median S/N of the fit set
    assert cal.apply(np.array([0.05]), np.array([np.nan]))[0] == pytest.approx(
        cal.apply(np.array([0.05]), np.array([cal.snr_default]))[0]
    )


def test_a_few_catastrophic_failures_do_not_inflate_every_error():
    pred, raw, ref, snr = _overconfident(3000, 3, factor=1.0)
    clean = fit_calibration(pred, raw, ref, snr)
    pred[:15] += 50.0  # 0.5 % catastrophic outliers
    dirty = fit_calibration(pred, raw, ref, snr)
    mid = np.array([0.05]), np.array([50.0])
    assert dirty.apply(*mid)[0] == pytest.approx(clean.apply(*mid)[0], rel=0.1)


def test_repeat_pairs_recover_a_known_error_scale_without_labels():
    rng = np.random.default_rng(4)
    n = 3000
    star = rng.normal(0, 1, n)  # unknown true labels
    raw1, raw2 = rng.uniform(0.05, 0.2, (2, n))
    # the real errors are 2.5x what the model says
    y1 = star + rng.normal(0, 2.5 * raw1)
    y2 = star + rng.normal(0, 2.5 * raw2)
    cal = fit_calibration_pairs((y1, raw1, None), (y2, raw2, None))
    assert cal.a == pytest.approx(2.5, rel=0.05)
    assert cal.z_std == pytest.approx(1.0, abs=0.05)
    # applied to single observations it gives the true scatter against the truth
    z = (y1 - star) / cal.apply(raw1, None)
    assert np.std(z) == pytest.approx(1.0, abs=0.05)


def test_ood_threshold_flags_at_most_two_percent_of_new_in_distribution_stars():
    rng = np.random.default_rng(5)
    d = 8

    def population(n, shift=0.0):
        feats = rng.normal(0, 1, (n, d)) + shift
        labels = feats[:, :2] * 0.5
        return feats, labels

    tf, tl = population(3000)
    vf, vl = population(2000)
    ood = fit_ood(tf, tl, vf, vl, {"spread": np.exp(rng.normal(0, 0.3, (2000, 2)))})
    nf, nl = population(5000)
    score, parts = ood.score(nf, nl, {"spread": np.exp(rng.normal(0, 0.3, (5000, 2)))})
    assert set(parts) == {"feature_distance", "label_distance", "spread"}
    # threshold at 1.5 % of the held-out stars: new stars stay under 2 %
    assert 0.008 < np.mean(score > 1) < 0.02
    far_f, far_l = population(500, shift=4.0)
    far, _ = ood.score(far_f, far_l, {"spread": np.exp(rng.normal(0, 0.3, (500, 2)))})
    assert np.mean(far > 1) > 0.95


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cal")
    cfg = EnsembleConfig(
        n_members=2,
        n_keep=2,
        cnn=CNNConfig(channels=(4,), kernel_size=5, pool=(4,), dense=(16,)),
        train=TrainConfig(max_epochs=3, optimizer="adam", lr=3e-3, batch_size=32),
        standardize_flux=True,
    )
    est = DeepEnsembleRegressor(cfg, labels=["logg", "fe_h"], device="cpu")
    est.fit(toy_spectra(200, 0), toy_spectra(60, 1))
    est.save(tmp / "m")
    write_dataset(toy_spectra(80, 7, sigma=0.03), tmp / "ref.h5")
    return tmp


def test_cli_calibrate_refits_on_reference_stars_and_keeps_the_old_one(model_dir):
    before = json.loads((model_dir / "m" / "model.json").read_text())["calibration"]
    result = runner.invoke(
        app,
        [
            "calibrate",
            str(model_dir / "m"),
            str(model_dir / "ref.h5"),
            "-o",
            str(model_dir / "rep"),
        ],
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((model_dir / "m" / "model.json").read_text())
    new = manifest["calibration"]["default"]
    assert new["logg"]["source"] == "ref.h5"
    assert manifest["calibration_history"][-1]["labels"] == before["default"]
    assert {p.name for p in (model_dir / "rep").iterdir()} == {
        "calibration.csv",
        "reliability.png",
        "summary.txt",
        "_starlabel_output.json",  # the folder marker, written last
    }
    # the loaded model applies the new map: z std 1 on the stars it was fitted on
    model = starlabel.load(model_dir / "m")
    ref = starlabel.read_dataset(model_dir / "ref.h5")
    pred = model.predict(ref)
    z = (pred.mean[:, 0] - ref.labels["logg"]) / pred.sigma_total[:, 0]
    assert np.std(z, ddof=1) == pytest.approx(new["logg"]["z_std"], rel=1e-6)
    # a second run needs --overwrite for its report, never for the model
    again = runner.invoke(
        app,
        [
            "calibrate",
            str(model_dir / "m"),
            str(model_dir / "ref.h5"),
            "-o",
            str(model_dir / "rep"),
        ],
    )
    assert again.exit_code == 2 and "--overwrite" in again.output


def test_cli_calibrate_on_repeat_pairs_and_bad_pairs(model_dir):
    # two noisy observations of the same 60 stars
    first = toy_spectra(60, 11, sigma=0.03)
    rng = np.random.default_rng(0)
    flux = np.vstack([first.flux, first.flux + rng.normal(0, 0.03, first.flux.shape)])
    pairs = Spectra(
        flux,
        first.wavelength,
        np.vstack([first.ivar, first.ivar]),
        meta={"id": [f"obs{i}" for i in range(120)]},
    )
    write_dataset(pairs, model_dir / "repeats.h5")
    ids = pairs.ids
    lines = ["id1,id2"] + [f"{ids[i]},{ids[60 + i]}" for i in range(60)]
    (model_dir / "pairs.csv").write_text("\n".join(lines) + "\n")
    result = runner.invoke(
        app,
        [
            "calibrate",
            str(model_dir / "m"),
            str(model_dir / "repeats.h5"),
            "--pairs",
            str(model_dir / "pairs.csv"),
            "-o",
            str(model_dir / "rep-pairs"),
        ],
    )
    assert result.exit_code == 0, result.output
    cal = json.loads((model_dir / "m" / "model.json").read_text())["calibration"]
    assert cal["default"]["fe_h"]["source"] == "pairs: pairs.csv"
    assert "random part" in (model_dir / "rep-pairs" / "summary.txt").read_text()
    (model_dir / "bad.csv").write_text("id1,id2\n" + f"{ids[0]},nobody\n" * 12)
    bad = runner.invoke(
        app,
        [
            "calibrate",
            str(model_dir / "m"),
            str(model_dir / "repeats.h5"),
            "--pairs",
            str(model_dir / "bad.csv"),
            "-o",
            str(model_dir / "rep-bad"),
        ],
    )
    assert bad.exit_code == 2
    assert "bad.csv" in bad.output and "line 2" in bad.output and "nobody" in bad.output


def test_calibration_stratified_by_predicted_teff_fixes_each_bin():
    """Errors 1x the raw error for cool stars and 3x for hot ones: one map is wrong
    in both bins; the map fitted per predicted-Teff bin is right in each, on new
    stars, and survives the round trip through model.json's dict."""
    from starlabel.models.recalibration import LabelCalibration, calibrate_sigma

    def stars(n, seed):
        rng = np.random.default_rng(seed)
        teff = rng.uniform(4000, 6500, n)
        raw = rng.uniform(0.05, 0.2, n)
        true = raw * np.where(teff < 5500, 1.0, 3.0)
        return teff, raw, rng.normal(0, true)

    teff, raw, res = stars(6000, 10)
    one = fit_calibration(res, raw, np.zeros_like(res), None)

    def part(sel):
        return fit_calibration(res[sel], raw[sel], np.zeros(sel.sum()), None)

    cal = one.stratified("teff", (4500.0, 5500.0), part, teff)
    back = LabelCalibration.from_dict(cal.to_dict())
    assert back == cal
    t2, r2, e2 = stars(6000, 11)
    names = ("teff", "x")
    sig = calibrate_sigma(
        {"x": back}, names, np.column_stack([r2, r2]), None, np.column_stack([t2, e2])
    )[:, 1]
    for sel in (t2 < 5500, t2 >= 5500):
        assert np.std(e2[sel] / sig[sel]) == pytest.approx(1.0, abs=0.05)
        assert abs(np.std(e2[sel] / one.apply(r2[sel])) - 1.0) > 0.2  # one map: wrong
