import numpy as np
import pytest

from starlabel.spectra.labels import (
    a_to_x_fe,
    a_to_x_h,
    label_spec,
    parse_label_target,
    solar_abundance,
    x_fe_to_a,
    x_fe_to_x_h,
    x_h_to_a,
    x_h_to_x_fe,
)


@pytest.mark.parametrize(
    ("el", "value"),
    [
        ("Fe", 7.45),
        ("Mg", 7.53),
        ("Al", 6.37),
        ("Si", 7.51),
        ("Ca", 6.31),
        ("Ti", 4.90),
        ("Ni", 6.23),
        ("Li", 1.05),
    ],
)
def test_solar_abundances_gas2007(el, value):
    assert solar_abundance(el) == value
    assert solar_abundance(el.lower()) == value


def test_conversions_are_consistent():
    rng = np.random.default_rng(0)
    a_mg = rng.uniform(5.5, 8.0, 50)
    fe_h = rng.uniform(-2.5, 0.5, 50)
    mg_h = a_to_x_h(a_mg, "Mg")
    np.testing.assert_allclose(mg_h, a_mg - 7.53)
    mg_fe = x_h_to_x_fe(mg_h, fe_h)
    np.testing.assert_allclose(mg_fe, a_to_x_fe(a_mg, "Mg", fe_h))
    np.testing.assert_allclose(x_fe_to_x_h(mg_fe, fe_h), mg_h)
    np.testing.assert_allclose(x_fe_to_a(mg_fe, "Mg", fe_h), a_mg)
    np.testing.assert_allclose(x_h_to_a(mg_h, "Mg"), a_mg)


def test_label_units_from_names():
    assert label_spec("teff").unit == "K"
    assert label_spec("mg_fe").unit == "dex"
    assert label_spec("ni_h").description == "[Ni/H]"
    assert label_spec("a_li").description == "A(Li)"
    assert label_spec("vsini").unit == "km/s"
    with pytest.raises(ValueError, match="lower case"):
        label_spec("Teff")


def test_parse_targets():
    t = parse_label_target("[Mg/Fe]")
    assert (t.scale, t.name, t.element) == ("x_fe", "mg_fe", "Mg")
    assert parse_label_target("e_A(Al)").is_error
    assert parse_label_target("[Ni/H]_err").scale == "x_h"
    with pytest.raises(ValueError, match="unknown element"):
        parse_label_target("A(Qq)")
    with pytest.raises(ValueError, match="expected a label name"):
        parse_label_target("T eff")
