"""Disentangling autoencoder (GANDALF method) on a toy survey of independent labels."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from starlabel.cli._app import expand_multi
from starlabel.cli.main import app
from starlabel.models import load
from starlabel.models.gandalf import GandalfConfig, LatentAutoencoder
from starlabel.models.latent import DenseRegressor, fit_dense_regressor, r2_per_label
from starlabel.spectra import write_dataset

from .gandalf_toy import CENTRES, toy_spectra

SMALL = dict(
    latent=4,
    encoder=(64, 32),
    decoder=(32, 64),
    regressor=(32,),
    batch_size=32,
    max_epochs=30,
)


def _fit(**changes) -> LatentAutoencoder:
    cfg = GandalfConfig(**(SMALL | changes))
    return LatentAutoencoder(cfg, random_state=0).fit(toy_spectra(800, 0))


@pytest.fixture(scope="module")
def plain() -> LatentAutoencoder:
    return _fit()


@pytest.fixture(scope="module")
def disentangled() -> LatentAutoencoder:
    return _fit(disentangle=("logg",), strength=0.3)


def test_lambda_zero_is_a_plain_autoencoder(plain):
    mse = [h["valid_mse"] for h in plain.history_[0]["epochs"]]
    assert mse[-1] < 0.5 * mse[0]
    # A discriminator with lambda 0 is trained but never reaches the autoencoder:
    # its weights end exactly where the model without discriminators ends.
    ignored = _fit(disentangle=("logg",), strength=0.0)
    assert len(ignored.module_.discriminators) == 1
    # it learned: chance is 0.10 +- 0.024 on 160 held-out stars
    assert ignored.history_[0]["epochs"][-1]["discriminator_accuracy"][0] > 0.15
    a, b = plain.module_.ae.state_dict(), ignored.module_.ae.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_disentangling_removes_the_label_from_the_latent_space(plain, disentangled):
    r2_plain, r2_dis = plain.latent_r2_["logg"], disentangled.latent_r2_["logg"]
    assert r2_plain > 0.4
    assert r2_dis < 0.5 * r2_plain and r2_dis < 0.25
    # The discriminator is fooled: near or below chance (0.1) on held-out stars.
    assert disentangled.history_[0]["epochs"][-1]["discriminator_accuracy"][0] < 0.2
    # The other labels are not removed.
    assert disentangled.latent_r2_["fe_h"] > 0.5


def test_edit_without_change_is_the_reconstruction(disentangled):
    data = toy_spectra(20, 5)
    same = disentangled.edit(data, "g5-3", {})
    np.testing.assert_array_equal(same.edited, same.reconstruction)
    assert np.sqrt(np.mean((same.reconstruction - same.original) ** 2)) < 0.03
    # Changing log g changes the spectrum most at log g's own line.
    moved = disentangled.edit(data, 3, {"logg": same.labels["logg"] + 2.0})
    assert moved.edited_labels["logg"] == pytest.approx(same.labels["logg"] + 2.0)
    peak = np.argmax(np.abs(moved.edited - moved.reconstruction))
    assert abs(peak - CENTRES[0]) <= 4
    with pytest.raises(ValueError, match="not labels of this model"):
        disentangled.edit(data, 3, {"teff": 5000})
    with pytest.raises(ValueError, match="not in the dataset"):
        disentangled.edit(data, "nobody", {})


def test_save_load_round_trip(disentangled, tmp_path):
    disentangled.save(tmp_path / "m")
    back = load(tmp_path / "m")
    data = toy_spectra(30, 7)
    a, b = disentangled.predict(data), back.predict(data)
    np.testing.assert_allclose(a.mean, b.mean, rtol=1e-6)
    np.testing.assert_array_equal(a.sigma_external, b.sigma_external)
    assert back.latent_r2_ == disentangled.latent_r2_
    e1, e2 = (
        disentangled.edit(data, 0, {"fe_h": 0.0}),
        back.edit(data, 0, {"fe_h": 0.0}),
    )
    np.testing.assert_allclose(e1.edited, e2.edited, rtol=1e-6)
    # Predictions track the truth for the labels the latent space keeps.
    assert r2_per_label(data.labels["fe_h"], a.mean[:, 1])[0] > 0.7


def test_encoder_labels_architecture():
    model = _fit(encoder_labels=True, max_epochs=5)
    data = toy_spectra(10, 3)
    assert np.isfinite(model.encode(data)).all()
    unlabelled = toy_spectra(10, 3)
    unlabelled.labels.pop("logg")
    with pytest.raises(ValueError, match="lacks"):
        model.predict(unlabelled)


def test_dense_regressor_forward_matches_sklearn():
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 5))
    y = np.column_stack([x[:, 0] * 2 + np.sin(x[:, 1]), x[:, 2] ** 2])
    reg = MLPRegressor(hidden_layer_sizes=(16, 8), max_iter=50, random_state=0)
    with pytest.warns(ConvergenceWarning):  # not converged in 50 iterations
        reg.fit(x, y)
    dense = DenseRegressor(
        tuple(reg.coefs_),
        tuple(reg.intercepts_),
        *(np.zeros(5), np.ones(5)),
        *(np.zeros(2), np.ones(2)),
    )
    np.testing.assert_allclose(dense.predict(x), reg.predict(x), rtol=1e-10, atol=1e-12)
    back = DenseRegressor.from_arrays(dense.to_arrays("p."), "p.")
    np.testing.assert_array_equal(back.predict(x), dense.predict(x))
    fitted = fit_dense_regressor(x, y[:, 0], hidden=(32,), seed=0)
    from sklearn.metrics import r2_score

    pred = fitted.predict(x)
    assert r2_per_label(y[:, 0], pred)[0] == pytest.approx(
        r2_score(y[:, 0], pred[:, 0])
    )
    assert r2_per_label(y[:, 0], pred)[0] > 0.9


def test_multi_value_options_expand():
    args = [
        "train",
        "d.h5",
        "--disentangle",
        "teff",
        "logg",
        "--entangle",
        "fe_h",
        "-o",
        "m",
        "--set",
        "teff=7500",
        "mg_fe=-0.1",
        "--labels",
        "a",
        "d2.h5",
    ]
    assert expand_multi(args) == [
        "train",
        "d.h5",
        "--disentangle",
        "teff",
        "--disentangle",
        "logg",
        "--entangle",
        "fe_h",
        "-o",
        "m",
        "--set",
        "teff=7500",
        "--set",
        "mg_fe=-0.1",
        "--labels",
        "a",
        "d2.h5",
    ]


def test_cli_train_predict_edit(tmp_path):
    from astropy.table import Table

    write_dataset(toy_spectra(400, 0), tmp_path / "train.h5")
    write_dataset(toy_spectra(30, 9), tmp_path / "test.h5")
    runner = CliRunner()
    out = runner.invoke(
        app,
        [
            "train",
            str(tmp_path / "train.h5"),
            "--model",
            "gandalf",
            "--latent",
            "4",
            "--disentangle",
            "logg",
            "--entangle",
            "fe_h",
            "mg_fe",
            "--lambda",
            "0.2",
            "--preset",
            "fast",
            "--max-epochs",
            "3",
            "-q",
            "-o",
            str(tmp_path / "m"),
        ],
    )
    assert out.exit_code == 0, out.output
    assert "R^2" in out.output
    model = load(tmp_path / "m")
    assert model._config.lambdas == {"logg": 0.2, "fe_h": -0.2, "mg_fe": -0.2}
    out = runner.invoke(
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
    assert out.exit_code == 0, out.output
    cat = Table.read(tmp_path / "cat.csv", comment="#")
    assert len(cat) == 30 and np.isfinite(cat["fe_h"]).all()
    assert np.allclose(cat["fe_h_err_ext"], model.scatter_["fe_h"])
    # the bootstrap regressors give every star its own error
    assert np.std(cat["fe_h_err_int"]) > 0 and np.all(cat["fe_h_err_int"] > 0)
    out = runner.invoke(
        app,
        [
            "edit",
            str(tmp_path / "m"),
            str(tmp_path / "test.h5"),
            "--id",
            "g9-2",
            "--set",
            "logg=4.5",
            "fe_h=-1",
            "-o",
            str(tmp_path / "e.png"),
        ],
    )
    assert out.exit_code == 0, out.output
    assert (tmp_path / "e.png").stat().st_size > 10_000
    bad = runner.invoke(
        app,
        [
            "edit",
            str(tmp_path / "m"),
            str(tmp_path / "test.h5"),
            "--id",
            "g9-2",
            "--set",
            "logg:4.5",
            "-o",
            str(tmp_path / "f.png"),
        ],
    )
    assert bad.exit_code == 2 and "NAME=VALUE" in bad.output
    assert not (tmp_path / "f.png").exists()
    bad = runner.invoke(
        app,
        [
            "train",
            str(tmp_path / "train.h5"),
            "--disentangle",
            "logg",
            "-o",
            str(tmp_path / "n"),
        ],
    )
    assert bad.exit_code == 2 and "--model gandalf" in bad.output


def test_the_autoencoder_loop_honours_a_training_deadline():
    from starlabel.training import TrainingDeadline, deadline

    with deadline(0.0), pytest.raises(TrainingDeadline):
        _fit()
