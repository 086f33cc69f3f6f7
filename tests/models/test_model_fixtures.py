"""Model directories written by the release the fixtures come from
(``fixtures/make_model_fixtures.py``) load and predict as they did then."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.numpy import load_file

import starlabel
from starlabel.models import MODELS

from .fixtures.make_model_fixtures import (
    HERE,
    PREDICT_SEED,
    fit_fixture,
    prediction_arrays,
)
from .gandalf_toy import toy_spectra

V1 = HERE / "v1"  # format 1, frozen
#: prediction fields fitted after training (``models.reliability``)
RELIABILITY = {"calibrated", "ood_score", "flags"}


@pytest.mark.parametrize("root", [HERE, V1], ids=["current", "format1"])
@pytest.mark.parametrize("kind", sorted(MODELS))
def test_a_model_directory_of_the_release_predicts_as_it_did(kind, root):
    model = starlabel.load(root / kind)
    assert model.kind == kind
    got = prediction_arrays(model.predict(toy_spectra(12, PREDICT_SEED)))
    want = load_file(str(root / f"{kind}-expected.safetensors"))
    assert sorted(got) == sorted(want)
    for name, value in want.items():
        # float32 networks; torch's CPU kernels differ slightly between processes
        # (seen: 1.6e-5 relative on an OOD distance), never by a changed model
        np.testing.assert_allclose(got[name], value, rtol=1e-4, atol=1e-6, err_msg=name)


def _expected(kind: str) -> dict[str, np.ndarray]:
    return load_file(str(V1 / f"{kind}-expected.safetensors"))


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_training_today_gives_the_model_of_the_release(kind, tmp_path):
    """The fit template trains what each model's own fit trained: a refit with the
    fixture's recipe predicts what the format-1 fixture (written by the models'
    own fits) does, also after save and load in today's format. What is fitted
    after training (``RELIABILITY``: the error calibration, now on degraded copies
    too, and the OOD score, now S/N-aware and with the spectrum check) changed
    on purpose since and is compared with what the refit's own reliability step
    gives: the calibrated errors are those of its stored map."""
    from starlabel.models.recalibration import calibrate_sigma

    est = fit_fixture(kind)
    test = toy_spectra(12, PREDICT_SEED)
    back = starlabel.load(est.save(tmp_path / kind))
    for model in (est, back):
        pred = model.predict(test)
        got = prediction_arrays(pred)
        for name, value in _expected(kind).items():
            if name in RELIABILITY:
                continue
            np.testing.assert_allclose(
                got[name], value, rtol=1e-4, atol=1e-6, err_msg=name
            )

        cal = model.calibration_[model.calibration_key(model.predict_options())]
        want = calibrate_sigma(
            cal, pred.label_names, pred.sigma_raw, test.snr(), pred.mean
        )
        np.testing.assert_allclose(pred.calibrated, want, rtol=1e-6)
        assert pred.ood_score is not None and np.isfinite(pred.ood_score).all()


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_every_model_writes_one_manifest_schema(kind, tmp_path):
    """Format 2: members as {file, seed, best_valid_loss}, history under members;
    the release's format-1 directory reads into the same schema."""
    from starlabel.models.persist import FORMAT_VERSION, read_manifest

    path = fit_fixture(kind).save(tmp_path / kind)
    new, old = read_manifest(path), read_manifest(V1 / kind)
    assert new["format_version"] == FORMAT_VERSION == 2
    assert old["read_from_format_version"] == 1
    for manifest in (new, old):
        assert manifest["members"], kind
        for member in manifest["members"]:
            assert set(member) >= {"file", "seed", "best_valid_loss"}
            assert (path / member["file"]).exists()
    assert [m["file"] for m in new["members"]] == [m["file"] for m in old["members"]]
    history = json.loads((path / "history.json").read_text())
    assert list(history) == ["members"] and history["members"]
    assert all("seed" in h and "kept" in h for h in history["members"])
    for legacy in ("weights", "valid_loss"):
        assert legacy not in new, legacy
