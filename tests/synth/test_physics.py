"""The generator responds to labels the way stellar spectra do (independent checks)."""

import numpy as np
import pytest
import torch
from torch.func import jvp

from starlabel.synth.physics import LABELS, SpectrumGenerator

SUN = [5777.0, 4.44, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.05, 1.0, 2.0]


@pytest.fixture(scope="module")
def hr10():
    return SpectrumGenerator("giraffe-hr10", dtype=torch.float64, device="cpu")


@pytest.fixture(scope="module")
def hr21():
    return SpectrumGenerator("giraffe-hr21", dtype=torch.float64, device="cpu")


def _stars(base, **changes):
    """One row per value of the (single) changed label."""
    ((name, values),) = changes.items()
    rows = np.tile(np.asarray(base, dtype=float), (len(values), 1))
    rows[:, LABELS.index(name)] = values
    return torch.as_tensor(rows)


def _depth(gen, flux, wavelength, half=0.1):
    wl = gen.setup.grid.wavelength
    near = np.abs(wl - wavelength) < half
    return 1.0 - flux[:, near].min(dim=1).values.numpy()


def _ew(gen, flux, wavelength, half=0.35):
    wl = gen.setup.grid.wavelength
    near = np.abs(wl - wavelength) < half
    return (1.0 - flux[:, near]).sum(dim=1).numpy() * np.median(np.diff(wl))


def test_an_elements_lines_follow_its_abundance_and_only_its(hr10):
    values = np.linspace(-0.4, 0.6, 6)
    with torch.no_grad():
        flux = hr10(_stars(SUN, mg_fe=values))
    assert np.all(
        np.diff(_ew(hr10, flux, 5528.405)) > 0
    )  # Mg I 5528 deepens with [Mg/H]
    # Pixels beyond the reach of every Mg line (its opacity window plus the
    # instrumental profile) do not change at all.
    wl = hr10.setup.grid.wavelength
    mg = hr10.lines.species == "Mg"
    reach = hr10.lines.wavelength[mg] * (hr10.lines.window_kms[mg] + 50.0) / 299792.458
    far = np.all(
        np.abs(wl[:, None] - hr10.lines.wavelength[mg][None, :]) > reach[None, :],
        axis=1,
    )
    assert (1 - flux[0, far]).max() > 0.3  # there are strong other lines there
    np.testing.assert_allclose(
        flux[:, far], flux[:1, far].expand(len(values), -1), atol=1e-12
    )
    # and the same for Ni, whose lines sit elsewhere
    with torch.no_grad():
        ni = _ew(hr10, hr10(_stars(SUN, ni_fe=values)), 5587.858)
    assert np.all(np.diff(ni) > 0)


def test_fe2_to_fe1_ratio_rises_as_gravity_falls(hr10):
    base = list(SUN)
    base[0] = 5200.0
    loggs = np.array([4.6, 3.8, 3.0, 2.2, 1.4])
    with torch.no_grad():
        flux = hr10(_stars(base, logg=loggs))
    ratio = _ew(hr10, flux, 5534.847) / _ew(hr10, flux, 5543.936)  # Fe II / Fe I
    assert np.all(np.diff(ratio) > 0), ratio


def test_ca_triplet_wings_widen_with_gravity(hr21):
    base = list(SUN)
    base[0] = 5300.0
    loggs = np.array([1.5, 2.5, 3.5, 4.5])
    with torch.no_grad():
        flux = hr21(_stars(base, logg=loggs))
    wl = hr21.setup.grid.wavelength
    for offset in (-2.5, 2.5, 4.5):  # continuum windows between the wing's blends
        k = np.argmin(np.abs(wl - (8542.091 + offset)))
        wing = flux[:, k - 2 : k + 3].mean(dim=1).numpy()
        assert np.all(np.diff(wing) < 0), (offset, wing)  # deeper wings at higher log g


def test_flux_stays_in_unit_interval_over_the_label_space(hr10):
    rng = np.random.default_rng(0)
    n = 64
    lab = np.column_stack(
        [
            rng.uniform(3800, 7000, n),
            rng.uniform(0.5, 5.0, n),
            rng.uniform(-2.5, 0.5, n),
            *[rng.uniform(-0.3, 0.8, n) for _ in range(6)],
            rng.uniform(-0.5, 4.0, n),
            rng.uniform(0.5, 2.5, n),
            rng.uniform(0, 40, n),
        ]
    )
    with torch.no_grad():
        flux = hr10(torch.as_tensor(lab))
    assert torch.isfinite(flux).all()
    assert flux.min() >= 0.0 and flux.max() <= 1.0
    assert flux.min() < 0.6  # and it is not trivially flat


def test_autograd_jacobian_matches_finite_differences(hr10):
    star = torch.tensor(
        [[5400.0, 3.2, -0.4, 0.2, 0.1, 0.15, 0.1, 0.2, 0.05, 1.5, 1.3, 6.0]],
        dtype=torch.float64,
    )
    steps = {"teff": 1.0, "logg": 1e-3, "vmic": 1e-3, "vsini": 1e-3}
    for k, name in enumerate(LABELS):
        if name == "a_li":
            continue  # no Li line in HR10: its derivative is exactly zero (checked below)
        tangent = torch.zeros_like(star)
        tangent[0, k] = 1.0
        _, auto = jvp(hr10, (star,), (tangent,))
        h = steps.get(name, 1e-3)
        with torch.no_grad():
            fd = (hr10(star + h * tangent) - hr10(star - h * tangent)) / (2 * h)
        scale = auto.abs().max()
        assert scale > 0, name
        assert (auto - fd).abs().max() <= 1e-3 * scale, (
            name,
            float((auto - fd).abs().max() / scale),
        )
    tangent = torch.zeros_like(star)
    tangent[0, LABELS.index("a_li")] = 1.0
    assert jvp(hr10, (star,), (tangent,))[1].abs().max() == 0


def test_lithium_line_answers_a_li_in_hr15n():
    gen = SpectrumGenerator("giraffe-hr15n", dtype=torch.float64, device="cpu")
    base = list(SUN)
    base[0] = 4700.0
    with torch.no_grad():
        flux = gen(_stars(base, a_li=np.array([0.0, 1.0, 2.0, 3.0])))
    assert np.all(np.diff(_ew(gen, flux, 6707.8)) > 0)


def test_rotation_broadens_but_conserves_line_strength(hr10):
    with torch.no_grad():
        flux = hr10(_stars(SUN, vsini=np.array([0.0, 10.0, 30.0])))
    depth = _depth(hr10, flux, 5569.618)
    assert np.all(np.diff(depth) < 0)
    # convolution moves absorbed flux around but does not create or remove it
    absorbed = (1.0 - flux).sum(dim=1).numpy()
    np.testing.assert_allclose(absorbed, absorbed[0], rtol=5e-3)
