import astropy.units as u
import numpy as np
import pytest
from scipy.optimize import curve_fit

from starlabel.spectra import Spectra
from starlabel.spectra.grids import Grid, bin_edges, named_grid
from starlabel.spectra.preprocess import (
    air_to_vacuum,
    clean_spikes,
    doppler_factor,
    fill_masked,
    normalise_continuum,
    quality_mask,
    resample,
    resample_to_grid,
    shift_to_rest,
    vacuum_to_air,
)


def _line(wl, centre=5500.0, depth=0.6, sigma=0.15):
    return 1.0 - depth * np.exp(-0.5 * ((wl - centre) / sigma) ** 2)


def _fit_centre(wl, flux):
    def model(x, c, d, s):
        return 1.0 - d * np.exp(-0.5 * ((x - c) / s) ** 2)

    p, _ = curve_fit(model, wl, flux, p0=(wl[np.argmin(flux)], 0.5, 0.2))
    return p[0]


@pytest.mark.parametrize("rv", [-87.3, 12.5, 143.0])
def test_shift_resample_and_back_recovers_line_centre(rv):
    rest_grid = np.arange(5480.0, 5520.0, 0.06)
    obs_grid = np.arange(5470.0, 5530.0, 0.05)
    truth = _line(rest_grid)
    ivar = np.full(rest_grid.size, 1e4)
    # Into the observed frame: the rest pixels move to lambda * D.
    f_obs, iv_obs, _ = resample(rest_grid * doppler_factor(rv), truth, ivar, obs_grid)
    good = iv_obs > 0
    # Back to the rest frame with the catalogue RV.
    f_back, iv_back, _ = resample(
        shift_to_rest(obs_grid[good], rv), f_obs[good], iv_obs[good], rest_grid
    )
    ok = iv_back > 0
    centre = _fit_centre(rest_grid[ok], f_back[ok])
    assert abs(centre - 5500.0) / 0.06 < 0.05  # in pixels of the rest grid


def test_resampling_conserves_integrated_flux():
    fine = np.arange(5490.0, 5510.0, 0.01)
    flux = _line(fine, centre=5500.013, depth=0.8, sigma=0.09)
    ivar = np.ones_like(fine)
    for coarse in (
        np.arange(5492.0, 5508.0, 0.06),
        np.arange(5492.0, 5508.0, 0.1),
        np.arange(5492.0, 5508.0, 0.0371),
    ):
        out, _, _ = resample(
            fine, 1.0 - flux, ivar, coarse
        )  # integrate the line's absorbed flux
        ew_in = np.sum((1.0 - flux) * np.diff(bin_edges(fine)))
        ew_out = np.sum(out * np.diff(bin_edges(coarse)))
        assert ew_out == pytest.approx(ew_in, rel=1e-3)


def test_resample_matches_specutils_flux_conserving_resampler():
    from astropy.nddata import InverseVariance
    from specutils import Spectrum
    from specutils.manipulation import FluxConservingResampler

    rng = np.random.default_rng(0)
    wl = np.sort(5000 + np.cumsum(rng.uniform(0.04, 0.07, 400)))
    flux = 1 + 0.1 * np.sin(wl) + rng.normal(0, 0.01, wl.size)
    ivar = rng.uniform(5e3, 2e4, wl.size)
    new = np.arange(wl[5], wl[-5], 0.083)
    ours_f, ours_iv, _ = resample(wl, flux, ivar, new)
    spec = Spectrum(
        flux=flux * u.dimensionless_unscaled,
        spectral_axis=wl * u.AA,
        uncertainty=InverseVariance(ivar),
    )
    theirs = FluxConservingResampler(extrapolation_treatment="nan_fill")(
        spec, new * u.AA
    )
    inner = slice(2, -2)
    np.testing.assert_allclose(
        ours_f[inner], theirs.flux.value[inner], rtol=1e-9, atol=1e-9
    )
    np.testing.assert_allclose(
        ours_iv[inner], theirs.uncertainty.array[inner], rtol=1e-6
    )


def test_propagated_ivar_matches_monte_carlo():
    rng = np.random.default_rng(1)
    wl = np.arange(6000.0, 6010.0, 0.05)
    sigma = rng.uniform(0.01, 0.03, wl.size)
    new = np.arange(6001.0, 6009.0, 0.13)
    draws = 1.0 + rng.normal(0, 1, (4000, wl.size)) * sigma
    out, iv, _ = resample(wl, draws, np.broadcast_to(1 / sigma**2, draws.shape), new)
    empirical = out.var(axis=0)
    np.testing.assert_allclose(empirical, 1 / iv[0], rtol=0.1)


def test_masked_pixels_do_not_enter_and_gaps_are_not_bridged():
    wl = np.concatenate(
        [np.arange(5000.0, 5010.0, 0.05), np.arange(5100.0, 5110.0, 0.05)]
    )
    flux = np.ones(wl.size)
    ivar = np.ones(wl.size)
    flux[50:60] = 100.0
    ivar[50:60] = 0.0  # masked: must not leak
    new = np.arange(5000.5, 5109.5, 0.1)
    out, iv, cov = resample(wl, flux, ivar, new)
    good = iv > 0
    np.testing.assert_allclose(out[good], 1.0)
    in_gap = (new > 5010.1) & (new < 5099.9)
    assert np.all(iv[in_gap] == 0) and np.all(np.isnan(out[in_gap]))


def test_resample_to_grid_keeps_segments_apart():
    grid = named_grid("giraffe-hr10-hr21")
    assert grid.n_pixels == 8669
    wl = np.arange(5339.0, 9001.0, 0.05)
    f, iv, cov = resample_to_grid(wl, np.ones(wl.size), np.ones(wl.size), grid)
    assert f.shape == (8669,) and np.all(iv > 0) and np.allclose(f, 1.0)


def test_air_vacuum_conversions_match_specutils():
    from specutils.utils.wcs_utils import air_to_vac, vac_to_air

    wl = np.array([5339.0, 6707.8, 8542.09, 15500.0])
    np.testing.assert_allclose(
        air_to_vacuum(wl), air_to_vac(wl * u.AA, method="Morton2000").value, atol=2e-3
    )
    np.testing.assert_allclose(vacuum_to_air(air_to_vacuum(wl)), wl, atol=1e-8)
    np.testing.assert_allclose(
        vacuum_to_air(wl), vac_to_air(wl * u.AA, method="Morton2000").value, atol=2e-3
    )


def test_clean_spikes_removes_cosmics_and_keeps_lines():
    wl = np.arange(5500.0, 5520.0, 0.05)
    rng = np.random.default_rng(3)
    truth = _line(wl, centre=5510.0, depth=0.7)
    flux = truth + rng.normal(0, 0.01, wl.size)
    ivar = np.full(wl.size, 1e4)
    flux[40] += 0.5  # cosmic ray
    flux[300] = 0.0  # dead pixel
    out, iv = clean_spikes(flux, ivar)
    assert iv[40] == 0 and iv[300] == 0
    assert abs(out[40] - truth[40]) < 0.05 and abs(out[300] - truth[300]) < 0.05
    line = np.abs(wl - 5510.0) < 0.5
    assert np.all(iv[line] > 0)  # absorption is never clipped
    assert (iv == 0).sum() == 2


def test_clean_spikes_without_ivar_uses_robust_scatter():
    rng = np.random.default_rng(4)
    flux = 1 + rng.normal(0, 0.01, 500)
    flux[100] = 1.2
    out, iv = clean_spikes(flux, np.zeros(500))
    assert abs(out[100] - 1.0) < 0.05


@pytest.mark.parametrize("method", ["percentile", "polynomial"])
def test_normalise_continuum_recovers_a_smooth_continuum(method):
    wl = np.arange(8480.0, 8930.0, 0.1)
    x = (wl - wl.mean()) / 200
    continuum = 1000 * (1 + 0.3 * x - 0.2 * x**2)
    lines = np.ones_like(wl)
    rng = np.random.default_rng(5)
    for c in rng.uniform(8490, 8920, 25):
        lines *= _line(wl, centre=c, depth=0.4, sigma=0.2)
    flux = continuum * lines
    norm, ivar, cont = normalise_continuum(
        wl, flux, np.full(wl.size, 1.0), method=method
    )
    off_line = lines > 0.999
    np.testing.assert_allclose(cont[off_line], continuum[off_line], rtol=0.015)
    np.testing.assert_allclose(ivar, cont**2)


def test_fill_masked_interpolates_linearly():
    flux = np.linspace(0, 1, 11)
    ivar = np.ones(11)
    ivar[[0, 4, 5]] = 0
    broken = flux.copy()
    broken[[0, 4, 5]] = np.nan
    filled = fill_masked(broken, ivar)
    np.testing.assert_allclose(filled[4:6], flux[4:6])
    assert filled[0] == pytest.approx(flux[1])  # ends take the nearest value
    assert np.all(fill_masked(broken, ivar, method="one")[[0, 4, 5]] == 1)
    assert np.allclose(fill_masked(np.ones(3), np.zeros(3)), 1)


def test_quality_mask_reasons(small_spectra):
    sp = small_spectra
    snr = sp.meta["snr"].copy()
    snr[2] = 10.0
    err = sp.labels_err["teff"].copy()
    err[5] = 300.0
    sp = sp.replace(meta={**sp.meta, "snr": snr}, labels_err={"teff": err})
    keep, reasons = quality_mask(sp, min_snr=30, max_label_err={"teff": 200})
    assert keep.sum() == sp.n_spectra - 2
    assert reasons[2] == "S/N 10.0 below 30"
    assert reasons[5] == "teff_err 300 above 200"


def test_grid_validation():
    with pytest.raises(ValueError, match="overlaps"):
        Grid((np.array([1.0, 2.0, 3.0]), np.array([2.5, 4.0])))
    with pytest.raises(ValueError, match="unknown name"):
        named_grid("nope")
    g = Grid.from_wavelength(
        Spectra(np.ones((1, 6)), [1.0, 2, 3, 100, 101, 102] * u.AA).wavelength_aa
    )
    assert [s.size for s in g.segments] == [3, 3]


# ------------------------------------------------------------ dense flux
def test_dense_flux_fills_masked_pixels_by_interpolation():
    from starlabel.spectra import dense_flux

    wl = np.linspace(5000.0, 5010.0, 8) * u.AA
    flux = np.array(
        [
            [1.0, 2.0, 9.0, 4.0, 5.0, 9.0, 9.0, 8.0],  # pixels 2, 5, 6 masked
            [9.0, 0.5, 0.7, 0.9, 9.0, 9.0, 9.0, 9.0],  # masked at both ends
            [1.0] * 8,  # every pixel masked: dead
            [0.3, 0.6, 0.9, 1.2, 1.5, 1.8, 2.1, 2.4],  # nothing masked
        ]
    )
    ivar = np.ones_like(flux)
    ivar[0, [2, 5, 6]] = 0
    ivar[1, [0, 4, 5, 6, 7]] = 0
    ivar[2] = 0
    sp = Spectra(flux, wl, ivar)
    got, dead = dense_flux(sp)
    expected = np.array(
        [
            [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],  # linear between neighbours
            [0.5, 0.5, 0.7, 0.9, 0.9, 0.9, 0.9, 0.9],  # ends take the nearest value
            [1.0] * 8,
            [0.3, 0.6, 0.9, 1.2, 1.5, 1.8, 2.1, 2.4],
        ],
        dtype=np.float32,
    )
    assert got.dtype == np.float32 and got.shape == flux.shape
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert dead.tolist() == [False, False, True, False]
    # the input is not modified
    assert sp.flux[0, 2] == 9.0


# ----------------------------------------------------- non-physical flux
def test_nonphysical_flux_rules():
    from starlabel.spectra.preprocess import mask_nonphysical, nonphysical_flux

    norm = np.array([1.0, -1.0, 10.0, -1.01, 10.5, np.nan, -np.inf, 1e30])
    assert nonphysical_flux(norm).tolist() == [False] * 3 + [True] * 5
    # median |flux| of the finite pixels is 310: the limit is 3.1e5
    counts = np.array([[300.0, 310.0, 290.0, 3e5, 4e5, np.inf, -1e30, 0.0]])
    assert nonphysical_flux(counts, normalised=False).tolist() == [
        [False, False, False, False, True, True, True, False]
    ]
    f = np.array([1.0, 0.8, 1e30, 0.6, 1.0], dtype=np.float32)
    iv = np.full(5, 4.0, dtype=np.float32)
    f2, iv2, bad = mask_nonphysical(f, iv)
    assert bad.tolist() == [False, False, True, False, False]
    assert f2.dtype == np.float32 and f2[2] == pytest.approx(0.7)
    np.testing.assert_array_equal(f2[~bad], f[~bad])
    assert iv2.tolist() == [4.0, 4.0, 0.0, 4.0, 4.0] and f[2] == np.float32(1e30)
