"""The default presets learn on a 1000-star synthetic survey in <= 10 epochs: test
residual std below half the label scatter for teff, logg and [Fe/H]."""

import numpy as np
import pytest

from starlabel.models import build_estimator
from starlabel.synth.population import sample_population
from starlabel.synth.survey import synthesize

LABELS = ["teff", "logg", "fe_h", "mg_fe"]


def _survey(n, seed):
    from starlabel.spectra import Spectra

    pop = sample_population(n, seed=seed, snr=(10.0, 150.0))
    batches = list(
        synthesize(pop, setup="giraffe-hr10-hr21", with_crlb=False, seed=seed)
    )
    return Spectra.concatenate(batches) if len(batches) > 1 else batches[0]


@pytest.fixture(scope="module")
def survey():
    return _survey(1000, 1), _survey(400, 2)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["cnn", "cinn"])
def test_default_preset_learns_in_10_epochs(survey, kind):
    train, test = survey
    # The cnn default trains 5 members; each learns on its own, so two show it.
    flags = {"ensemble": 2} if kind == "cnn" else {}
    est = build_estimator(kind, labels=LABELS, max_epochs=10, device="cpu", **flags)
    est.fit(train)
    pred = est.predict(test)
    for k, name in enumerate(LABELS[:3]):
        ratio = np.std(pred.mean[:, k] - test.labels[name]) / np.std(test.labels[name])
        assert ratio < 0.5, (kind, name, ratio)
