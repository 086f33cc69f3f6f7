"""Censoring windows from the package line list, on the setups' grids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from starlabel.errors import StarlabelInputError
from starlabel.models.censor import censored_element, censoring_masks, element_windows
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
