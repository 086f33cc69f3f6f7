"""One contract for every estimator (models/base.py): fit returns self, NotFittedError
before fit, sklearn clone, save -> load -> identical predictions, shapes and dtypes,
typed and validated predict options, model directories that never replace what
starlabel did not write."""

import json

import numpy as np
import pytest
from sklearn.base import clone

import starlabel
from starlabel.errors import StarlabelInputError
from starlabel.models import (
    MODELS,
    CINNConfig,
    CNNConfig,
    EmulatorConfig,
    EnsembleConfig,
    GandalfConfig,
    NotFittedError,
    PosteriorEstimator,
)
from starlabel.training import TrainConfig

from .gandalf_toy import toy_spectra

TINY = {
    "cnn": EnsembleConfig(
        n_members=2,
        n_keep=2,
        cnn=CNNConfig(
            channels=(4,), kernel_size=5, pool=(4,), dense=(16,), dropout=0.0
        ),
        train=TrainConfig(max_epochs=2, optimizer="adam", lr=1e-3, batch_size=32),
    ),
    "cinn": CINNConfig(
        cond_dims=(8, 8),
        channels=(4, 4),
        kernel_size=4,
        pool=(4, 2),
        stage_hidden=16,
        dense=(16,),
        hidden=16,
        train=TrainConfig(max_epochs=2, optimizer="adam", lr=1e-3, batch_size=32),
    ),
    "gandalf": GandalfConfig(latent=3, encoder=(16,), decoder=(16,), max_epochs=2),
    "emulator": EmulatorConfig(
        hidden=(16,),
        train=TrainConfig(max_epochs=2, optimizer="adam", lr=1e-3, batch_size=32),
        n_candidates=50,
    ),
}


@pytest.fixture(scope="module")
def data():
    return toy_spectra(120, 0), toy_spectra(40, 1), toy_spectra(12, 2)


@pytest.fixture(scope="module", params=sorted(MODELS))
def fitted(request, data):
    train, valid, _ = data
    est = MODELS[request.param](
        TINY[request.param], labels=["logg", "fe_h"], device="cpu"
    )
    assert est.fit(train, valid) is est
    return est


def test_top_level_load_is_the_registry_loader():
    from starlabel.models.registry import load

    assert starlabel.load is load


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_unfitted_estimators_refuse_to_predict_save_or_sample(kind, data):
    est = MODELS[kind](TINY[kind])
    with pytest.raises(NotFittedError):
        est.predict(data[2])
    with pytest.raises(NotFittedError):
        est.save("never-written")
    if isinstance(est, PosteriorEstimator):
        with pytest.raises(NotFittedError):
            est.sample(data[2], n_samples=2)


def test_clone_gives_an_unfitted_twin_with_the_same_params(fitted):
    twin = clone(fitted)
    assert twin.get_params() == fitted.get_params()
    with pytest.raises(NotFittedError):
        twin.predict(toy_spectra(2, 5))


def test_shapes_dtypes_and_uncertainty_descriptions(fitted, data):
    pred = fitted.predict(data[2])
    assert pred.label_names == ("logg", "fe_h")
    for arr in (pred.mean, pred.sigma_internal, pred.sigma_external, pred.sigma_total):
        assert arr.shape == (12, 2) and arr.dtype == np.float64
    assert np.isfinite(pred.mean).all()
    assert set(pred.descriptions) == {"int", "ext"}
    table = pred.to_table(data[2].ids)
    assert fitted.uncertainty_parts["int"] in table["logg_err_int"].description


def test_save_load_gives_identical_predictions(fitted, data, tmp_path):
    path = fitted.save(tmp_path / "m")
    back = starlabel.load(path)
    assert type(back) is type(fitted) and back.kind == fitted.kind
    a, b = fitted.predict(data[2]), back.predict(data[2])
    np.testing.assert_allclose(b.mean, a.mean, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(b.sigma_total, a.sigma_total, rtol=1e-5, atol=1e-6)
    assert "model = " in (path / "config.toml").read_text()


def test_predict_options_are_typed_and_validated(fitted, data):
    with pytest.raises(TypeError, match="options"):
        fitted.predict(data[2], {"batch_size": 3})
    if fitted.kind == "cinn":
        assert fitted.predict_options(mode="precision").mode == "precision"
    else:
        with pytest.raises(ValueError, match="--mode: not an option of"):
            fitted.predict_options(mode="precision")
    with pytest.raises(ValueError, match="batch_size"):
        fitted.predict_options(batch_size=0)
    assert fitted.predict_options(batch_size=None) == fitted.options_class()


def test_summary_names_the_loss_of_each_model(fitted):
    facts = fitted.summary()
    assert fitted.kind in facts["kind"] and fitted.loss_name
    assert fitted.loss_name in facts.get("validation loss", fitted.loss_name)


def test_saving_never_replaces_what_starlabel_did_not_write(fitted, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "train.h5").write_bytes(b"precious")
    with pytest.raises(StarlabelInputError, match="not a model directory"):
        fitted.save(project)
    with pytest.raises(StarlabelInputError, match="not a model directory"):
        fitted.save(project, overwrite=True)
    assert (project / "train.h5").read_bytes() == b"precious"

    model = fitted.save(tmp_path / "m")
    with pytest.raises(StarlabelInputError, match="--overwrite"):
        fitted.save(model)
    fitted.save(model, overwrite=True)  # ours: replaced
    assert json.loads((model / "model.json").read_text())["kind"] == fitted.kind
    (model / "notes.txt").write_text("mine")
    with pytest.raises(StarlabelInputError, match="notes.txt"):
        fitted.save(model, overwrite=True)
    assert (model / "notes.txt").read_text() == "mine"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_model_directories_honour_the_umask(fitted, tmp_path):
    import os

    old = os.umask(0o022)
    try:
        path = fitted.save(tmp_path / "m")
    finally:
        os.umask(old)
    assert (path.stat().st_mode & 0o777) == 0o755
    assert ((path / "model.json").stat().st_mode & 0o777) == 0o644


def test_run_config_round_trips_through_toml(fitted, tmp_path):
    from starlabel.models import build_estimator, read_run_config

    file = tmp_path / "run.toml"
    file.write_text(fitted.run_toml())
    again = build_estimator(run=read_run_config(file))
    assert type(again) is type(fitted)
    assert again.config == fitted.config and list(again.labels) == ["logg", "fe_h"]


def test_every_model_is_calibrated_and_scores_ood_without_options(
    fitted, data, tmp_path
):
    """After fit every model carries a calibration and an OOD reference; they are
    applied by default, survive save/load, and reach the catalogue."""
    from astropy.table import Table

    from starlabel.inference import predict_file
    from starlabel.spectra import write_dataset

    key = fitted.calibration_key(fitted.predict_options())
    assert set(fitted.calibration_[key]) == {"logg", "fe_h"}
    pred = fitted.predict(data[2])
    assert pred.calibrated is not None and pred.ood_score.shape == (12,)
    np.testing.assert_array_equal(pred.sigma_total, pred.calibrated)
    assert np.isfinite(pred.ood_score).all() and np.isfinite(pred.calibrated).all()
    back = starlabel.load(fitted.save(tmp_path / "m"))
    again = back.predict(data[2])
    np.testing.assert_allclose(again.calibrated, pred.calibrated, rtol=1e-5)
    np.testing.assert_allclose(again.ood_score, pred.ood_score, rtol=1e-4, atol=1e-5)
    assert back.calibration_ == fitted.calibration_
    write_dataset(data[2], tmp_path / "test.h5")
    predict_file(back, tmp_path / "test.h5", tmp_path / "cat.csv")
    cat = Table.read(tmp_path / "cat.csv", comment="#")
    for col in ("ood_score", "logg_err", "logg_err_raw", "fe_h_err_raw", "flag"):
        assert col in cat.colnames, col
    np.testing.assert_allclose(cat["ood_score"], pred.ood_score, rtol=1e-4, atol=1e-5)


def _state(est) -> dict[str, np.ndarray]:
    """Every tensor a fitted estimator saves, by file and key."""
    _, files, _ = est._save_parts()
    return {
        f"{name}:{key}": value.detach().cpu().numpy()
        for name, tensors in files.items()
        for key, value in tensors.items()
    }


def test_fitting_again_resets_the_state_and_gives_the_same_model(fitted, data):
    """sklearn: fit resets; with the same seed, fit twice = fit once."""
    train, valid, test = data
    once = _state(fitted)
    before = fitted.predict(test)
    fitted.fit(train, valid)
    again = _state(fitted)
    assert sorted(again) == sorted(once)
    for key, value in once.items():
        np.testing.assert_array_equal(again[key], value, err_msg=key)
    after = fitted.predict(test)
    np.testing.assert_array_equal(after.mean, before.mean)
    np.testing.assert_array_equal(after.total, before.total)


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_set_params_round_trips_and_rebuilds_like_the_constructor(kind):
    est = MODELS[kind](TINY[kind], labels=["logg"], random_state=3)
    other = clone(est).set_params(random_state=7, labels=["fe_h"])
    assert other.get_params()["random_state"] == 7
    assert other.get_params()["labels"] == ["fe_h"]
    assert other.get_params()["config"] == est.get_params()["config"]
    back = clone(other).set_params(**est.get_params())
    assert back.get_params() == est.get_params()
    built = MODELS[kind](**est.get_params())
    assert built.get_params() == est.get_params()
    assert est.resolved_config() is TINY[kind]
    assert (
        MODELS[kind]().resolved_config()
        == MODELS[kind].presets[MODELS[kind].default_preset]
    )
