"""Saliency against analytic and finite-difference gradients; peak-to-line matching."""

import numpy as np
import pytest
import torch

from starlabel.diagnostics.saliency import (
    element_of,
    line_peaks,
    own_element_fraction,
    saliency,
)
from starlabel.synth.atoms import LineList


def test_saliency_of_a_linear_model_is_its_weights():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(3, 40))
    wt = torch.as_tensor(w, dtype=torch.float32)

    def fn(x):
        return x @ wt.T + 1.0

    flux = rng.normal(size=(7, 40))
    g = saliency(fn, flux, batch_size=3)
    assert g.shape == (3, 7, 40)
    np.testing.assert_allclose(
        g, np.broadcast_to(w[:, None, :], g.shape), rtol=1e-6, atol=1e-6
    )


def test_saliency_of_a_trained_model_matches_finite_differences():
    from starlabel.models.gandalf import GandalfConfig, LatentAutoencoder

    from ..models.gandalf_toy import toy_spectra

    cfg = GandalfConfig(
        latent=4, encoder=(32,), decoder=(32,), max_epochs=2, regressor=(16,)
    )
    model = LatentAutoencoder(cfg, random_state=0).fit(toy_spectra(200, 0))
    flux = toy_spectra(2, 3).flux.astype(np.float64)
    with torch.no_grad():  # the differentiable path reproduces predict()
        direct = model.label_function()(torch.as_tensor(flux, dtype=torch.float32))
    np.testing.assert_allclose(
        direct.numpy(), model.predict(toy_spectra(2, 3)).mean, rtol=1e-4, atol=1e-4
    )
    model.module_.double()  # float64 so that central differences are exact to ~1e-8
    fn = model.label_function()
    g = saliency(fn, flux, dtype=torch.float64)
    eps = 1e-6
    for p in (5, 10, 24, 40):
        up, down = flux.copy(), flux.copy()
        up[:, p] += eps
        down[:, p] -= eps
        with torch.no_grad():
            fd = (fn(torch.as_tensor(up)) - fn(torch.as_tensor(down))).numpy() / (
                2 * eps
            )
        np.testing.assert_allclose(g[:, :, p].T, fd, rtol=1e-5, atol=1e-6)


def _lines():
    wl = np.array([5000.0, 5002.0, 5004.0, 5006.0])
    n = wl.size
    return LineList(
        species=np.array(["Fe", "Mg", "Fe", "Al"]),
        ion=np.ones(n, int),
        wavelength=wl,
        ep=np.zeros(n),
        loggf=np.zeros(n),
        window_kms=np.full(n, 150.0),
        log_damping=np.full(n, -2.0),
        quality=np.array(["named"] * n),
    )


def test_peaks_are_matched_to_the_nearest_line_within_tolerance():
    wl = np.linspace(4999, 5007, 801)
    prof = np.zeros_like(wl)
    for centre, height in ((5002.05, 3.0), (5006.0, 2.0), (5005.0, 1.0)):
        prof += height * np.exp(-0.5 * ((wl - centre) / 0.03) ** 2)
    peaks = line_peaks(wl, prof, -prof, _lines(), top=3, tolerance=0.2)
    assert [p.species for p in peaks] == [
        "Mg",
        "Al",
        "",
    ]  # 5005.0 has no line within 0.2 A
    assert peaks[0].line_wavelength == 5002.0 and peaks[0].sign == -1
    assert peaks[0].wavelength == pytest.approx(5002.05, abs=0.02)
    own, chance = own_element_fraction("mg_fe", peaks, wl, _lines(), 0.2)
    assert own == pytest.approx(1 / 3)
    # one Mg line of four: 0.4 A of the 8 A grid lies within 0.2 A of it
    assert chance == pytest.approx(0.05, abs=0.005)
    assert np.isnan(own_element_fraction("teff", peaks, wl, _lines(), 0.2)[0])


def test_element_of_labels():
    assert [element_of(n) for n in ("mg_fe", "fe_h", "a_li", "teff", "logg")] == [
        "Mg",
        "Fe",
        "Li",
        None,
        None,
    ]


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"n_stars": 0}, "n_stars"),
        ({"top": 0}, "top"),
        ({"tolerance": -1}, "tolerance"),
    ],
)
def test_explain_refuses_bad_settings_before_making_anything(tmp_path, kwargs, needle):
    from starlabel.diagnostics.explain import explain

    with pytest.raises(ValueError, match=needle):
        explain(None, None, tmp_path / "out", **kwargs)
    assert list(tmp_path.iterdir()) == []
