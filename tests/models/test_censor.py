"""Censoring windows from the package line list, on the setups' grids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from starlabel.errors import StarlabelInputError
from starlabel.models.censor import (
    censored_element,
    censoring_masks,
    element_windows,
    window_mask,
)
from starlabel.spectra.preprocess import air_to_vacuum
from starlabel.synth.atoms import load_linelist
from starlabel.synth.setups import get_setup

APOGEE = Path(__file__).parents[2] / ".." / "shared" / "data" / "payne"


def _independent_windows(wl, centres, resolution, width=1.5, rv=5.0):
    """Pixel by pixel: within width * FWHM + the RV margin of any centre."""
    out = np.zeros(wl.size, bool)
    for i, w in enumerate(wl):
        half = width * w / resolution[i] + w * rv / 299_792.458
        out[i] = bool(np.any(np.abs(centres - w) <= half))
    return out


@pytest.mark.parametrize(
    ("setup", "elements"),
    [
        ("giraffe-hr10-hr21", ["Mg", "Al", "Si", "Ca", "Ti", "Ni", "Fe"]),
        ("gaia-rvs", ["Si", "Ca", "Ti", "Ni", "Fe"]),
    ],
)
def test_windows_are_the_lines_of_the_element_and_nothing_else(setup, elements):
    s = get_setup(setup)
    wl, medium = s.grid.wavelength, s.grid.medium
    lines = load_linelist()
    per_pixel = np.concatenate(
        [
            np.full(seg.size, r)
            for seg, r in zip(s.grid.segments, s.resolution, strict=True)
        ]
    )
    for el in elements:
        centres = lines.wavelength[lines.species == el]
        if medium == "vacuum":
            centres = air_to_vacuum(centres)
        mask = element_windows(wl, el, resolution=per_pixel, medium=medium)
        np.testing.assert_array_equal(
            mask, _independent_windows(wl, centres, per_pixel), err_msg=el
        )
        assert 0 < mask.mean() < (0.6 if el == "Fe" else 0.1), (el, mask.mean())


def test_with_wings_a_strong_line_covers_the_reach_the_line_list_gives_it():
    """The Ca II triplet's damping wings reach 1500 km/s (42 A at 8542 A) in the
    line list; a weak line (no reach of its own) keeps its core window."""
    wl = get_setup("gaia-rvs").grid.wavelength
    core = window_mask(wl, "Ca")
    wings = window_mask(wl, "Ca", wings=True)
    assert (core <= wings).all()
    reach = 8542.091 * 1500.0 / 299_792.458
    near = np.abs(wl - 8542.091)
    assert wings[near <= 0.95 * reach].all()
    # beyond 2 A of it the core windows hold only other Ca lines' cores
    assert core[(near > 2.0) & (near <= reach)].mean() < 0.2
    ti_core, ti_wings = window_mask(wl, "Ti"), window_mask(wl, "Ti", wings=True)
    np.testing.assert_array_equal(ti_core, ti_wings)  # no Ti line with a reach


def test_al_windows_hold_the_al_doublet_and_no_mg_line():
    wl = get_setup("giraffe-hr10-hr21").grid.wavelength
    al = element_windows(wl, "Al")
    for line in (8772.87, 8773.90):  # the Al I doublet in HR21
        assert al[np.argmin(np.abs(wl - line))]
    for line in (5528.41, 8717.83, 8736.02, 8806.76):  # Mg I lines the CNN used
        assert not al[np.argmin(np.abs(wl - line))], line


def test_each_abundance_sees_its_lines_and_iron_the_parameters_everything():
    wl = get_setup("giraffe-hr10-hr21").grid.wavelength
    masks = censoring_masks(wl, ["teff", "logg", "fe_h", "mg_fe", "al_fe"])
    assert masks["teff"].all() and masks["fe_h"].all()
    iron = element_windows(wl, "Fe")
    np.testing.assert_array_equal(masks["mg_fe"], iron | element_windows(wl, "Mg"))
    assert not masks["al_fe"][~(iron | element_windows(wl, "Al"))].any()
    assert censored_element("mg_fe") == "Mg" and censored_element("a_li") == "Li"
    assert censored_element("fe_h") is None and censored_element("vsini") is None


def test_a_grid_without_the_elements_lines_is_refused_in_one_line():
    wl = get_setup("gaia-rvs").grid.wavelength
    with pytest.raises(StarlabelInputError, match="no Mg line on this grid"):
        element_windows(wl, "Mg", medium="vacuum")


@pytest.mark.skipif(not APOGEE.exists(), reason="../shared/data/payne not here")
def test_the_apogee_grid_is_outside_the_package_line_list():
    """The package line list covers the optical and the Ca triplet, not the H
    band: on the APOGEE grid censoring says so instead of censoring wrongly."""
    wl = np.load(APOGEE / "apogee_wavelength.npz")["wavelength"]
    for el in ("Mg", "Al", "Fe"):
        with pytest.raises(StarlabelInputError, match=f"no {el} line"):
            element_windows(wl, el, medium="vacuum")


def test_a_star_whose_element_lines_are_masked_is_flagged_and_its_error_is_the_prior():
    """The emulator-free path of every model: a CNN predicting [Mg/Fe] on a star
    whose Mg lines are all masked gets OWN_LINES_MASKED and the prior's error as
    its [Mg/Fe] _err (the RMS distance of a training-like star from the value:
    spread and offset from the training mean in quadrature); the other stars and
    labels are untouched."""
    import astropy.units as u

    from starlabel.models import CNNConfig, DeepEnsembleRegressor, EnsembleConfig
    from starlabel.models.censor import own_lines_unseen
    from starlabel.spectra import Flag, Spectra
    from starlabel.training import TrainConfig

    wl = np.arange(5500.0, 5560.0, 0.05)
    rng = np.random.default_rng(0)
    n = 60
    labels = {"teff": rng.uniform(4500, 6000, n), "mg_fe": rng.uniform(-0.1, 0.4, n)}
    flux = 1 + rng.normal(0, 0.01, (n, wl.size))
    sp = Spectra(flux, wl * u.AA, np.full_like(flux, 1e4), labels)
    cfg = EnsembleConfig(
        n_members=2,
        n_keep=2,
        cnn=CNNConfig(channels=(4,), kernel_size=5, pool=(4,), dense=(8,), dropout=0.0),
        train=TrainConfig(max_epochs=1, optimizer="adam", lr=1e-3, batch_size=16),
    )
    est = DeepEnsembleRegressor(cfg, device="cpu").fit(sp)
    ivar = sp.ivar.copy()
    ivar[3, element_windows(wl, "Mg")] = 0.0  # star 3: every Mg pixel masked
    ivar[5, element_windows(wl, "Fe")] = 0.0  # star 5: iron only
    test = Spectra(sp.flux, wl * u.AA, ivar, sp.labels)
    unseen = own_lines_unseen(wl, ["teff", "mg_fe"], ivar)
    assert list(unseen) == ["mg_fe"] and np.flatnonzero(unseen["mg_fe"]).tolist() == [3]
    pred = est.predict(test)
    flagged = (pred.flags & Flag.OWN_LINES_MASKED) > 0
    assert np.flatnonzero(flagged).tolist() == [3]
    k = pred.label_names.index("mg_fe")
    spread, mean = est.label_std_["mg_fe"], est.label_mean_["mg_fe"]
    assert spread == pytest.approx(np.std(sp.labels["mg_fe"]), rel=0.3)
    assert mean == pytest.approx(np.mean(sp.labels["mg_fe"]), abs=0.05)
    assert pred.calibrated[3, k] == pytest.approx(
        np.hypot(spread, pred.mean[3, k] - mean)
    )
    normal = est.predict(sp)
    same = np.setdiff1d(np.arange(n), [3, 5])  # 5: other input (its Fe pixels filled)
    np.testing.assert_array_equal(pred.calibrated[same], normal.calibrated[same])
    # the H band: the line list has no line there, so nothing is judged
    assert (
        own_lines_unseen(np.linspace(15200, 16900, 500), ["mg_fe"], np.ones((2, 500)))
        == {}
    )
