import astropy.units as u
import numpy as np
import pytest

from starlabel.spectra import Spectra, der_snr
from starlabel.spectra.splits import assign_split

from ..conftest import gaussian_line_spectra


def test_wavelength_is_stored_in_angstrom():
    sp = Spectra(np.ones((2, 3)), [500.0, 500.1, 500.2] * u.nm)
    np.testing.assert_allclose(sp.wavelength_aa, [5000.0, 5001.0, 5002.0])
    assert sp.wavelength.unit == u.AA


@pytest.mark.parametrize(
    ("wavelength", "message"),
    [
        (np.array([1.0, 2.0, 3.0]), "unit-less"),
        ([1.0, 3.0, 2.0] * u.AA, "strictly increasing"),
        ([1.0, 2.0, 3.0] * u.s, "not a length"),
        ([1.0, 2.0] * u.AA, "shape"),
    ],
)
def test_bad_wavelength_is_refused(wavelength, message):
    with pytest.raises(ValueError, match=message):
        Spectra(np.ones((2, 3)), wavelength)


def test_negative_ivar_and_duplicate_ids_are_refused():
    wl = [1.0, 2.0, 3.0] * u.AA
    with pytest.raises(ValueError, match="negative"):
        Spectra(np.ones((2, 3)), wl, -np.ones((2, 3)))
    with pytest.raises(ValueError, match="duplicated: a"):
        Spectra(np.ones((2, 3)), wl, meta={"id": ["a", "a"]})


def test_nan_flux_is_masked():
    flux = np.ones((1, 4))
    flux[0, 2] = np.nan
    sp = Spectra(flux, np.arange(4.0) * u.AA + 1 * u.AA, np.ones((1, 4)))
    assert sp.mask.tolist() == [[False, False, True, False]]


def test_missing_ivar_is_estimated_from_der_snr():
    rng = np.random.default_rng(1)
    flux = 1 + rng.normal(0, 0.02, (3, 4000))
    sp = Spectra(flux, (np.arange(4000.0) + 5000) * u.AA)
    np.testing.assert_allclose(1 / np.sqrt(sp.ivar[:, 0]), 0.02, rtol=0.05)


def test_der_snr_matches_known_noise():
    rng = np.random.default_rng(2)
    flux = 2.0 + rng.normal(0, 0.04, 20000)
    assert der_snr(flux)[0] == pytest.approx(50.0, rel=0.03)


def test_snr_from_ivar(small_spectra):
    sp = small_spectra
    # Continuum flux 1 with sigma 0.01 on most pixels: median flux * sqrt(ivar) ~ 100.
    assert np.all(np.abs(sp.snr() - 100) < 3)


def test_selection_by_mask_ids_slice(small_spectra):
    sp = small_spectra
    sub = sp[sp.labels["teff"] > 5500]
    assert np.all(sub.labels["teff"] > 5500)
    assert sub.n_spectra == int((sp.labels["teff"] > 5500).sum())
    picked = sp.select(["s005", "s001"])
    assert picked.ids.tolist() == ["s005", "s001"]
    np.testing.assert_array_equal(picked.flux[0], sp.flux[5])
    assert picked.labels_err["teff"].shape == (2,)
    assert sp[2:4].ids.tolist() == ["s002", "s003"]
    with pytest.raises(KeyError, match="nope"):
        sp.select(["nope"])


def test_concatenate_fills_missing_labels_with_nan(small_spectra):
    a = small_spectra[:3]
    b = Spectra(
        np.ones((2, a.n_pixels)),
        a.wavelength,
        labels={"logg": [4.0, 4.5]},
        meta={"id": ["x", "y"]},
    )
    c = Spectra.concatenate([a, b])
    assert c.n_spectra == 5
    assert np.isnan(c.labels["teff"][3:]).all()
    np.testing.assert_array_equal(c.labels["logg"][3:], [4.0, 4.5])
    assert np.isnan(c.labels["logg"][:3]).all()
    assert c.meta["cluster"].tolist()[3:] == ["", ""]
    with pytest.raises(ValueError, match="ids must be unique"):
        Spectra.concatenate([a, a])
    other = Spectra(np.ones((1, 4)), np.arange(4.0) * u.AA + 1 * u.AA)
    with pytest.raises(ValueError, match="grid differs"):
        Spectra.concatenate([a, other])


def test_random_split_is_seeded_disjoint_and_complete():
    sp = gaussian_line_spectra(n=101)
    parts = sp.split((0.6, 0.2, 0.2), seed=3)
    assert [len(p) for p in parts] == [61, 20, 20]
    ids = np.concatenate([p.ids for p in parts])
    assert sorted(ids.tolist()) == sorted(sp.ids.tolist())
    again = sp.split((0.6, 0.2, 0.2), seed=3)
    assert all(np.array_equal(p.ids, q.ids) for p, q in zip(parts, again, strict=True))
    other = sp.split((0.6, 0.2, 0.2), seed=4)
    assert not np.array_equal(parts[1].ids, other[1].ids)


def test_stratified_split_spans_the_label_range():
    rng = np.random.default_rng(5)
    n = 1000
    values = rng.lognormal(0, 1, n)  # skewed: a random split can miss the tail
    part = assign_split(n, (0.8, 0.1, 0.1), seed=0, strata=values)
    assert np.bincount(part).tolist() == [800, 100, 100]
    for k in range(3):
        # each part's quantiles follow the whole's
        for q in (0.05, 0.5, 0.95):
            whole = np.quantile(values, q)
            mine = np.quantile(values[part == k], q)
            rank = np.mean(values <= mine)
            assert abs(rank - q) < 0.02, (k, q, whole, mine)


def test_stratified_split_handles_unknown_values():
    values = np.array([1.0, np.nan, 2.0, np.nan, 3.0, 4.0, np.nan, 5.0, 6.0, 7.0])
    part = assign_split(10, (0.5, 0.5), seed=0, strata=values)
    assert np.bincount(part).tolist() == [5, 5]


def test_bad_fractions():
    with pytest.raises(ValueError, match="summing to 1"):
        assign_split(10, (0.5, 0.2))


def test_specutils_round_trip(small_spectra):
    sp = small_spectra[:2]
    spec = sp.to_specutils()
    back = Spectra.from_specutils(spec)
    np.testing.assert_allclose(back.flux, sp.flux)
    np.testing.assert_allclose(back.ivar, sp.ivar, rtol=1e-6)
    np.testing.assert_allclose(back.wavelength_aa, sp.wavelength_aa)
