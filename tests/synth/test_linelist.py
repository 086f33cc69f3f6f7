import numpy as np
import pytest

from starlabel.synth.atoms import ELEMENTS, load_linelist

# The diagnostic lines named in Ambrosch et al. 2023 and Candebat et al. 2024.
NAMED = [
    ("Mg", 1, 5528.4),
    ("Mg", 1, 8717.8),
    ("Mg", 1, 8736.0),
    ("Mg", 1, 8806.8),
    ("Al", 1, 5557.1),
    ("Al", 1, 8772.9),
    ("Al", 1, 8773.9),
    ("Si", 1, 8892.7),
    ("Ca", 1, 5582.0),
    ("Ca", 1, 5594.5),
    ("Ca", 2, 8498.0),
    ("Ca", 2, 8542.1),
    ("Ca", 2, 8662.1),
    ("Ca", 2, 8912.1),
    ("Ca", 2, 8927.4),
    ("Ni", 1, 5578.7),
    ("Ni", 1, 5587.9),
    ("Ti", 1, 5490.1),
    ("Ti", 1, 5514.3),
    ("Ti", 1, 5514.5),
    ("Li", 1, 6707.8),
]


@pytest.mark.parametrize(("species", "ion", "wavelength"), NAMED)
def test_named_lines_are_there(species, ion, wavelength):
    lines = load_linelist()
    same = (lines.species == species) & (lines.ion == ion)
    assert np.min(np.abs(lines.wavelength[same] - wavelength)) <= 0.05


def test_cr_line_near_5410_and_li_doublet():
    lines = load_linelist()
    cr = lines.wavelength[lines.species == "Cr"]
    assert np.min(np.abs(cr - 5410.0)) < 0.5
    li = np.sort(lines.wavelength[lines.species == "Li"])
    assert li.size == 2 and 0.1 < li[1] - li[0] < 0.2


def test_coverage_counts():
    wl = load_linelist().wavelength

    def n(lo, hi):
        return int(((wl >= lo) & (wl <= hi)).sum())

    assert n(5339, 5619) + n(8484, 9001) >= 250
    assert n(8460, 8700) >= 60
    assert n(6444, 6818) >= 40


def test_many_iron_lines_of_both_stages_and_data_for_every_species():
    lines = load_linelist()
    assert ((lines.species == "Fe") & (lines.ion == 1)).sum() >= 150
    assert ((lines.species == "Fe") & (lines.ion == 2)).sum() >= 5
    assert set(lines.species) <= set(ELEMENTS)
    assert np.all(np.diff(lines.wavelength) >= 0)
