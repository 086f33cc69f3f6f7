"""Model directories written by the release the fixtures come from
(``fixtures/make_model_fixtures.py``) load and predict as they did then."""

from __future__ import annotations

import numpy as np
import pytest
from safetensors.numpy import load_file

import starlabel
from starlabel.models import MODELS

from .fixtures.make_model_fixtures import HERE, PREDICT_SEED, prediction_arrays
from .gandalf_toy import toy_spectra


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_a_model_directory_of_the_release_predicts_as_it_did(kind):
    model = starlabel.load(HERE / kind)
    assert model.kind == kind
    got = prediction_arrays(model.predict(toy_spectra(12, PREDICT_SEED)))
    want = load_file(str(HERE / f"{kind}-expected.safetensors"))
    assert sorted(got) == sorted(want)
    for name, value in want.items():
        # float32 networks; torch's CPU kernels differ slightly between processes
        # (seen: 1.6e-5 relative on an OOD distance), never by a changed model
        np.testing.assert_allclose(got[name], value, rtol=1e-4, atol=1e-6, err_msg=name)
