import json

import numpy as np
import pytest
from typer.testing import CliRunner

from starlabel.cli.main import app
from starlabel.inference import predict_file, read_catalogue_table
from starlabel.models import CNNConfig, DeepEnsembleRegressor, EnsembleConfig
from starlabel.spectra import Flag, read_dataset, write_dataset
from starlabel.training import TrainConfig

from ..conftest import gaussian_line_spectra

runner = CliRunner()


@pytest.fixture(scope="module")
def model_and_data():
    sp = gaussian_line_spectra(n=100, n_pixels=200, seed=4)
    train, test = sp.split((0.7, 0.3), seed=1)
    cfg = EnsembleConfig(
        n_members=2,
        n_keep=2,
        cnn=CNNConfig(
            channels=(4, 2), kernel_size=5, pool=(2, 1), dense=(16,), dropout=0.0
        ),
        train=TrainConfig(optimizer="adam", lr=3e-3, max_epochs=20, patience=20),
    )
    return DeepEnsembleRegressor(cfg, device="cpu").fit(train), test


@pytest.mark.parametrize("ext", ["fits", "csv", "parquet"])
def test_a_corrupted_spectrum_gets_nan_and_a_flag_the_rest_is_right(
    model_and_data, tmp_path, ext
):
    model, test = model_and_data
    flux = test.flux.copy()
    flux[3] = np.nan  # all-NaN spectrum
    broken = test.replace(flux=flux)
    data = tmp_path / "d.h5"
    write_dataset(broken, data)
    out = tmp_path / f"cat.{ext}"
    counts = predict_file(
        model, data, out, options=model.predict_options(batch_size=7)
    )  # several batches
    assert counts == {
        "n_spectra": len(test),
        "n_not_processed": 1,
        "n_outside_range": counts["n_outside_range"],
        "n_no_err": 0,
        "n_ood": counts["n_ood"],
    }
    # the corrupted spectrum has no OOD score either; every other one has
    table0 = read_catalogue_table(out)
    assert np.isnan(table0["ood_score"]).sum() == 1
    table = read_catalogue_table(out)
    assert table["id"].tolist() == test.ids.tolist()  # input order
    assert np.isnan(table["teff"][3]) and table["flag"][3] & Flag.NOT_PROCESSED
    expected = model.predict(test[np.arange(len(test)) != 3])
    got = np.column_stack(
        [np.asarray(table[n], dtype=float) for n in expected.label_names]
    )
    np.testing.assert_allclose(got[np.arange(len(test)) != 3], expected.mean, rtol=1e-6)
    for col in ("teff_err", "teff_err_int", "fe_h_err"):
        assert col in table.colnames
    if ext == "fits":
        assert str(table["teff"].unit) == "K"


@pytest.mark.parametrize("ext", ["fits", "parquet"])
def test_catalogue_says_what_each_error_column_is_and_where_it_came_from(
    model_and_data, tmp_path, ext
):
    from astropy.io import fits

    from starlabel.spectra import dataset_fingerprint

    model, test = model_and_data
    data = tmp_path / "d.h5"
    write_dataset(test, data)
    out = predict_file(model, data, tmp_path / f"cat.{ext}") and tmp_path / f"cat.{ext}"
    if ext == "fits":
        header = fits.getheader(out, 1)
        comments = {
            header[f"TTYPE{k}"]: header.get(f"TCOMM{k}", "")
            for k in range(1, header["TFIELDS"] + 1)
        }
        meta = {k: header[k] for k in ("SLINFP", "SLINPUT", "SLMODEL")}
    else:
        import pyarrow.parquet as pq

        schema = pq.read_schema(out)
        comments = {
            f.name: (f.metadata or {}).get(b"description", b"").decode() for f in schema
        }
        meta = {k.decode(): v.decode() for k, v in schema.metadata.items()}
    assert "spread" in comments["teff_err_int"] and "NaN" in comments["teff_err_ext"]
    assert "total" in comments["teff_err"]
    assert meta["SLINFP"] == dataset_fingerprint(data) and meta["SLINPUT"] == "d.h5"
    assert meta["SLMODEL"].startswith("cnn")
    assert read_catalogue_table(out).meta["SLINFP"] == meta["SLINFP"]


def test_cli_train_predict_evaluate(tmp_path):
    sp = gaussian_line_spectra(n=80, n_pixels=200, seed=5)
    train, valid, test = sp.split((0.6, 0.2, 0.2), seed=0)
    for name, part in (("train", train), ("valid", valid), ("test", test)):
        write_dataset(part, tmp_path / f"{name}.h5")
    result = runner.invoke(
        app,
        [
            "train",
            str(tmp_path / "train.h5"),
            "--model",
            "cnn",
            "--labels",
            "teff",
            "fe_h",
            "--valid",
            str(tmp_path / "valid.h5"),
            "--preset",
            "fast",
            "--ensemble",
            "2",
            "--keep",
            "1",
            "--max-epochs",
            "3",
            "--seed",
            "1",
            "-q",
            "-o",
            str(tmp_path / "m"),
        ],
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["info", str(tmp_path / "m")])
    assert result.exit_code == 0 and "teff [K]" in result.output
    result = runner.invoke(
        app,
        [
            "predict",
            str(tmp_path / "m"),
            str(tmp_path / "test.h5"),
            "-q",
            "-o",
            str(tmp_path / "cat.csv"),
        ],
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app,
        [
            "evaluate",
            str(tmp_path / "cat.csv"),
            "--truth",
            str(tmp_path / "test.h5"),
            "-o",
            str(tmp_path / "ev"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert {p.name for p in (tmp_path / "ev").iterdir()} == {
        "metrics.csv",
        "one_to_one.png",
        "residuals_vs_snr.png",
        "coverage.png",
        "calibration_bins.csv",
        "_starlabel_output.json",  # the folder marker, written last
    }
    # one member kept: no spread (_err_raw NaN), but the calibration's floor and
    # S/N terms still give every star an error
    cat = read_catalogue_table(tmp_path / "cat.csv")
    assert np.isnan(np.asarray(cat["teff_err_raw"], float)).all()
    assert (np.asarray(cat["teff_err"], float) > 0).all()
    header = (tmp_path / "ev" / "metrics.csv").read_text().splitlines()[0]
    assert header.startswith(
        "name,unit,n,bias,std,robust_std,p15,p85,sigma_over_crlb,z_std,coverage_68"
    )
    result = runner.invoke(
        app,
        [
            "predict",
            str(tmp_path / "m"),
            str(tmp_path / "test.h5"),
            "-o",
            str(tmp_path / "cat.txt"),
        ],
    )
    assert result.exit_code == 2 and "must end in .fits" in result.output


def test_cli_cinn_train_predict_precision_evaluate(tmp_path):
    sp = gaussian_line_spectra(n=90, n_pixels=600, seed=6)
    sp.labels["fe_h"][:3] = np.nan  # left out of cINN training, with a count printed
    train, test = sp.split((0.7, 0.3), seed=0)
    write_dataset(train, tmp_path / "train.h5")
    write_dataset(test[np.isfinite(test.labels["fe_h"])], tmp_path / "test.h5")
    write_dataset(sp, tmp_path / "all.h5")
    result = runner.invoke(
        app,
        [
            "train",
            str(tmp_path / "train.h5"),
            "--model",
            "cinn",
            "--preset",
            "fast",
            "--max-epochs",
            "2",
            "-q",
            "-o",
            str(tmp_path / "m"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "left out" in result.output and "missing label" in result.output
    result = runner.invoke(
        app,
        [
            "predict",
            str(tmp_path / "m"),
            str(tmp_path / "test.h5"),
            "--mode",
            "precision",
            "--n-external",
            "3",
            "--n-internal",
            "20",
            "-q",
            "-o",
            str(tmp_path / "cat.fits"),
        ],
    )
    assert result.exit_code == 0, result.output
    cat = read_catalogue_table(tmp_path / "cat.fits")
    for col in ("teff", "teff_err", "teff_err_int", "teff_err_ext", "fe_h_err_ext"):
        assert np.all(np.isfinite(np.asarray(cat[col], dtype=float))), col
    # default total: the posterior width alone (the noise is counted once) ...
    raw = np.asarray(cat["teff_err_raw"], dtype=float)
    np.testing.assert_allclose(raw, np.asarray(cat["teff_err_int"], float), rtol=1e-6)
    # ... and _err is the calibration in model.json applied to it, at each S/N
    cal = json.loads((tmp_path / "m" / "model.json").read_text())["calibration"]
    c = cal["precision-posterior"]["teff"]
    snr = read_dataset(tmp_path / "test.h5").snr()
    # the map of each star's predicted-Teff bin where fitted, else the overall one
    teff = np.asarray(cat["teff"], float)
    maps = [
        (c["parts"][int(np.digitize(t, c["edges"]))] if c["parts"] else None) or c
        for t in teff
    ]
    expected = np.array(
        [
            np.sqrt(
                (m["a"] * r) ** 2 + m["b"] ** 2 + (m["c"] * (100 / q) ** m["p"]) ** 2
            )
            for m, r, q in zip(maps, raw, snr, strict=True)
        ]
    )
    np.testing.assert_allclose(np.asarray(cat["teff_err"], float), expected, rtol=1e-6)
    result = runner.invoke(
        app,
        [
            "evaluate",
            str(tmp_path / "cat.fits"),
            "--truth",
            str(tmp_path / "test.h5"),
            "--model",
            str(tmp_path / "m"),
            "--n-draws",
            "30",
            "-o",
            str(tmp_path / "ev"),
        ],
    )
    assert result.exit_code == 0, result.output
    made = {p.name for p in (tmp_path / "ev").iterdir()}
    assert {"sbc_ranks.png", "coverage_posterior.png", "coverage.png"} <= made
    rows = (tmp_path / "ev" / "coverage_posterior.csv").read_text().splitlines()
    # evaluated on the catalogue's stars only, even when the truth file holds more
    result = runner.invoke(
        app,
        [
            "evaluate",
            str(tmp_path / "cat.fits"),
            "--truth",
            str(tmp_path / "all.h5"),
            "--model",
            str(tmp_path / "m"),
            "--n-draws",
            "30",
            "-o",
            str(tmp_path / "ev2"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (
        tmp_path / "ev2" / "coverage_posterior.csv"
    ).read_text().splitlines() == rows
    assert rows[0] == "level,teff,fe_h" and len(rows) == 12
    result = runner.invoke(
        app,
        [
            "predict",
            str(tmp_path / "m"),
            str(tmp_path / "test.h5"),
            "--mode",
            "nope",
            "-o",
            str(tmp_path / "x.csv"),
        ],
    )
    assert result.exit_code == 2
