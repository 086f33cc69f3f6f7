import json
import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone

from starlabel.errors import StarlabelInputError
from starlabel.models import (
    PRESETS,
    CNNConfig,
    DeepEnsembleRegressor,
    EnsembleConfig,
    NotFittedError,
    load,
)
from starlabel.nn import ConvRegressor
from starlabel.training import TrainConfig

from ..conftest import gaussian_line_spectra

TINY = CNNConfig(
    channels=(4, 4, 2), kernel_size=5, pool=(2, 2, 1), dense=(32, 16), dropout=0.0
)


def _config(n_members=2, n_keep=2, epochs=40, **train):
    t = dict(
        optimizer="adam", lr=3e-3, batch_size=16, max_epochs=epochs, patience=epochs
    )
    t.update(train)
    return EnsembleConfig(
        n_members=n_members, n_keep=n_keep, cnn=TINY, train=TrainConfig(**t)
    )


@pytest.fixture(scope="module")
def data():
    sp = gaussian_line_spectra(n=120, n_pixels=256, seed=3)
    return sp.split((0.6, 0.2, 0.2), seed=0)


@pytest.fixture(scope="module")
def fitted(data):
    train, valid, _ = data
    return DeepEnsembleRegressor(_config(epochs=150), random_state=0, device="cpu").fit(
        train, valid
    )


def test_paper_preset_has_560599_parameters():
    net = ConvRegressor(8669, 5)
    assert sum(p.numel() for p in net.parameters()) == 560_599
    est = DeepEnsembleRegressor(PRESETS["ambrosch2023"])
    assert (
        est._config.n_members == 10
        and est._config.n_keep == 8
        and est._config.train.patience == 30
    )


def test_contract_fit_returns_self_clone_and_not_fitted(data):
    train, valid, test = data
    est = DeepEnsembleRegressor(_config(epochs=2), labels=["teff"], device="cpu")
    with pytest.raises(NotFittedError):
        est.predict(test)
    assert clone(est).get_params() == est.get_params()
    assert est.fit(train, valid) is est
    pred = est.predict(test)
    assert pred.mean.shape == (len(test), 1) and pred.mean.dtype == np.float64
    assert pred.label_names == ("teff",)


def test_the_network_learns(data):
    """Overfit a tiny set to near-zero loss."""
    train, _, _ = data
    small = train[:16]
    est = DeepEnsembleRegressor(
        _config(n_members=1, n_keep=1, epochs=400, lr=3e-3, batch_size=8), device="cpu"
    ).fit(small, small)
    history = est.history_[0]
    assert history["train_loss"][0] > 0.3
    assert history["best_valid_loss"] < 0.01  # standardised MSE


def test_it_predicts_unseen_spectra(fitted, data):
    _, _, test = data
    pred = fitted.predict(test)
    k = pred.label_names.index("fe_h")  # the line depth carries [Fe/H] in the fixture
    res = pred.mean[:, k] - test.labels["fe_h"]
    assert (
        res.std() < 0.4 * test.labels["fe_h"].std()
    )  # much better than guessing the mean


def test_save_load_predict_identical(fitted, data, tmp_path):
    _, _, test = data
    fitted.save(tmp_path / "m")
    files = sorted(p.name for p in (tmp_path / "m").iterdir())
    assert files == [
        "config.toml",
        "grid.safetensors",
        "history.json",
        "member-00.safetensors",
        "member-01.safetensors",
        "model.json",
        "ood.safetensors",
        "spectrum_check.safetensors",
    ]
    again = load(tmp_path / "m")
    a, b = fitted.predict(test), again.predict(test)
    np.testing.assert_array_equal(a.mean, b.mean)
    np.testing.assert_array_equal(a.sigma_internal, b.sigma_internal)


def test_ensemble_std_zero_for_identical_members_positive_otherwise(fitted, data):
    _, _, test = data
    assert np.all(fitted.predict(test).sigma_internal > 0)
    twin = load_copy(fitted)
    twin.members_[1].load_state_dict(twin.members_[0].state_dict())
    np.testing.assert_array_equal(twin.predict(test).sigma_internal, 0.0)


def load_copy(est):
    import copy

    return copy.deepcopy(est)


def test_missing_labels_still_train_the_labels_they_have(data):
    train, valid, test = data
    teff = train.labels["teff"].copy()
    teff[::2] = np.nan  # half the stars lack teff
    partial = train.replace(labels={**train.labels, "teff": teff})
    est = DeepEnsembleRegressor(
        _config(n_members=1, n_keep=1, epochs=150), device="cpu"
    ).fit(partial, valid)
    pred = est.predict(test)
    assert np.all(np.isfinite(pred.mean))
    k = pred.label_names.index("fe_h")  # stars without teff still taught fe_h
    assert (pred.mean[:, k] - test.labels["fe_h"]).std() < 0.4 * test.labels[
        "fe_h"
    ].std()


def test_a_pickle_in_the_model_directory_is_never_loaded(fitted, tmp_path, monkeypatch):
    path = fitted.save(tmp_path / "m")
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    for name in ("member-00.pt", "model.pkl", "evil.safetensors.pkl"):
        (path / name).write_bytes(pickle.dumps(Evil()))
    monkeypatch.setattr(
        pickle,
        "load",
        lambda *a, **k: (_ for _ in ()).throw(AssertionError("pickle.load")),
    )
    monkeypatch.setattr(
        torch,
        "load",
        lambda *a, **k: (_ for _ in ()).throw(AssertionError("torch.load")),
    )
    load(path)
    assert not marker.exists()
    manifest = json.loads((path / "model.json").read_text())
    manifest["members"][0]["file"] = "member-00.pt"
    (path / "model.json").write_text(json.dumps(manifest))
    with pytest.raises(StarlabelInputError, match="unsafe weight file"):
        load(path)
    assert not marker.exists()


def test_loading_refuses_bad_versions_classes_and_grids(fitted, data, tmp_path):
    path = fitted.save(tmp_path / "m")
    manifest = json.loads((path / "model.json").read_text())
    for change, message in (
        ({"format_version": 99}, "upgrade starlabel"),
        ({"class": "os.system"}, "unknown model class"),
        ({"format": "other"}, "format is not"),
    ):
        (path / "model.json").write_text(json.dumps({**manifest, **change}))
        with pytest.raises(StarlabelInputError, match=message):
            load(path)
    (path / "model.json").write_text(json.dumps(manifest))
    other = gaussian_line_spectra(n=4, n_pixels=300)
    with pytest.raises(StarlabelInputError, match="differs from the model's"):
        load(path).predict(other)


def test_augmentation_and_rv_jitter_run(data):
    train, valid, test = data
    cfg = EnsembleConfig(
        n_members=1,
        n_keep=1,
        cnn=TINY,
        augment_noise=True,
        rv_jitter_kms=1.0,
        train=TrainConfig(optimizer="adam", lr=3e-3, max_epochs=3, patience=3),
    )
    est = DeepEnsembleRegressor(cfg, device="cpu").fit(train, valid)
    assert np.all(np.isfinite(est.predict(test).mean))


def test_configs_round_trip_through_json_and_refuse_unknown_keys():
    from starlabel.models.cnn import PRESETS

    for cfg in PRESETS.values():
        text = json.dumps(cfg.to_dict())
        assert EnsembleConfig.from_dict(json.loads(text)) == cfg
    with pytest.raises(ValueError, match="unknown keys"):
        EnsembleConfig.from_dict({"n_members": 3, "typo": 1})
    with pytest.raises(ValueError, match="TrainConfig: unknown keys"):
        EnsembleConfig.from_dict({"train": {"lr": 1e-3, "momentumm": 0.9}})


def test_pooling_before_the_activation_is_exactly_the_paper_order():
    torch.manual_seed(0)
    net = ConvRegressor(300, 3, kernel_size=7).eval()
    convs = [m for m in net.features if isinstance(m, torch.nn.Conv1d)]
    act = torch.nn.functional.leaky_relu
    x = torch.rand(5, 300)
    z = x.unsqueeze(1)
    z = torch.nn.functional.max_pool1d(
        act(convs[0](z), 0.3), 2
    )  # conv -> act -> pool (paper)
    z = torch.nn.functional.max_pool1d(act(convs[1](z), 0.3), 2)
    z = act(convs[2](z), 0.3)
    with torch.no_grad():
        torch.testing.assert_close(net(x), net.head(z.flatten(1)), rtol=0, atol=1e-6)
