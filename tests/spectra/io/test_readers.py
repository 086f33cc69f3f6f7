"""Readers: real APOGEE files, ESO/GES layouts, Gaia RVS, generic tables, bad input."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from starlabel.errors import StarlabelInputError
from starlabel.spectra.io import expand_paths, iter_raw, read_raw
from starlabel.spectra.io.eso import write_eso_spectrum
from starlabel.spectra.io.gaia_rvs import DR3_WAVELENGTH_NM


# ---------------------------------------------------------------- APOGEE
@pytest.mark.parametrize(
    "name",
    ["apStar-dr17-2M17335483-2753043.fits", "apStar-dr17-2M19485057+5005279.fits"],
)
def test_apstar_real_files(shared_data, name):
    path = shared_data / "apogee" / name
    (raw,) = read_raw(path)  # identified without --format
    assert raw.id == name[len("apStar-dr17-") : -len(".fits")]
    assert 15090 < raw.wavelength[0] < 15110 and 16990 < raw.wavelength[-1] < 17010
    assert raw.medium == "vacuum" and raw.wavelength.size == 8575
    # log-lambda WCS: constant step in log10(lambda) of 6e-6
    np.testing.assert_allclose(np.diff(np.log10(raw.wavelength)), 6e-6, rtol=1e-6)
    # our S/N agrees with the pipeline's header value within 5 %
    assert raw.snr == pytest.approx(raw.meta["snr_header"], rel=0.05)
    assert 0.8 < (raw.ivar > 0).mean() < 1.0  # chip gaps and bad pixels masked


def test_apvisit_real_file_joins_chips_in_order(shared_data):
    (raw,) = read_raw(shared_data / "apogee" / "apVisit-r13-5095-55844-128.fits")
    assert np.all(np.diff(raw.wavelength) > 0)
    assert 15100 < raw.wavelength[0] < 15200 and 16900 < raw.wavelength[-1] < 17000
    assert raw.snr == pytest.approx(raw.meta["snr_header"], rel=0.1)


def test_apstar_prepared_onto_its_own_grid(shared_data, tmp_path):
    from starlabel.spectra import PrepareConfig, prepare_files, read_dataset

    files = sorted((shared_data / "apogee").glob("apStar*.fits"))
    report = prepare_files(
        files,
        tmp_path / "ap.h5",
        format="apogee-apstar",
        config=PrepareConfig(normalise="percentile"),
    )
    assert report.n_written == 2 and report.grid.name == "input"
    sp = read_dataset(tmp_path / "ap.h5")
    assert sp.medium == "vacuum" and sp.n_pixels == 8575
    good = sp.ivar > 0
    assert 0.95 < np.median(sp.flux[good]) < 1.02  # continuum-normalised


# ------------------------------------------------------------------- ESO
@pytest.mark.parametrize("layout", ["image", "table"])
def test_eso_layouts_round_trip(tmp_path, layout):
    wl = np.arange(5339.0, 5619.0, 0.05)
    flux = 1 - 0.5 * np.exp(-0.5 * ((wl - 5500) / 0.2) ** 2)
    ivar = np.full(wl.size, 2500.0)
    path = tmp_path / f"s_{layout}.fits"
    write_eso_spectrum(
        path, wl, flux, ivar, star="08095427-4721419", setup="HR10", layout=layout
    )
    (raw,) = read_raw(path, format="ges")
    assert raw.id == "08095427-4721419" and raw.setup == "HR10" and raw.medium == "air"
    np.testing.assert_allclose(raw.wavelength, wl, atol=1e-6)
    np.testing.assert_allclose(raw.flux, flux, rtol=1e-6)
    np.testing.assert_allclose(raw.ivar, ivar, rtol=1e-6)


def test_eso_phase3_normalised_flux_rescales_error(tmp_path):
    """FLUX_NORM with the ERR of FLUX: sigma_norm = sigma * FLUX_NORM / FLUX (Candebat Eq. 4)."""
    n = 300
    wl = np.linspace(8484.0, 8500.0, n)
    cont = np.linspace(800.0, 1200.0, n)
    norm = np.full(n, 0.9)
    err = np.full(n, 20.0)
    cols = [
        fits.Column("WAVE", f"{n}D", unit="Angstrom", array=wl[None]),
        fits.Column("FLUX", f"{n}E", array=(norm * cont)[None]),
        fits.Column("ERR", f"{n}E", array=err[None]),
        fits.Column("FLUX_NORM", f"{n}E", array=norm[None]),
    ]
    hdr = fits.Header({"OBJECT": "star-x"})
    path = tmp_path / "p3.fits"
    fits.HDUList(
        [fits.PrimaryHDU(header=hdr), fits.BinTableHDU.from_columns(cols)]
    ).writeto(path)
    (raw,) = read_raw(path, format="ges")
    np.testing.assert_allclose(raw.flux, 0.9, rtol=1e-6)
    expected_sigma = err * norm / (norm * cont)
    np.testing.assert_allclose(1 / np.sqrt(raw.ivar), expected_sigma, rtol=1e-5)
    assert raw.id == "star-x"


def test_eso_image_with_cd_keyword_variance_and_nm_unit(tmp_path):
    n = 200
    primary = fits.PrimaryHDU(np.ones(n, dtype=np.float32))
    primary.header.update(
        {
            "CRVAL1": 644.4,
            "CD1_1": 0.005,
            "CRPIX1": 1,
            "CUNIT1": "nm",
            "OBJECT": "li-star",
        }
    )
    var = fits.ImageHDU(np.full(n, 1e-4, dtype=np.float32), name="VARIANCE")
    path = tmp_path / "img.fits"
    fits.HDUList([primary, var]).writeto(path)
    (raw,) = read_raw(path, format="ges")
    assert raw.wavelength[0] == pytest.approx(6444.0) and raw.wavelength[
        1
    ] - raw.wavelength[0] == pytest.approx(0.05)
    np.testing.assert_allclose(raw.ivar, 1e4, rtol=1e-3)


def test_eso_custom_names_and_missing_columns(tmp_path):
    n = 50
    cols = [
        fits.Column(
            "LAMBDA_AIR",
            f"{n}D",
            unit="Angstrom",
            array=np.linspace(5400, 5410, n)[None],
        ),
        fits.Column("F", f"{n}E", array=np.ones((1, n))),
        fits.Column("S", f"{n}E", array=np.full((1, n), 0.01)),
    ]
    path = tmp_path / "custom.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols)]).writeto(path)
    (raw,) = read_raw(
        path,
        format="ges",
        layout="table",
        wave="LAMBDA_AIR",
        flux="F",
        error="S",
        error_kind="sigma",
    )
    np.testing.assert_allclose(raw.ivar, 1e4, rtol=1e-4)
    with pytest.raises(StarlabelInputError, match=r"custom\.fits: .*no flux column"):
        read_raw(path, format="ges", layout="table", wave="LAMBDA_AIR")


# -------------------------------------------------------------- Gaia RVS
def _rvs_arrays(n_stars=3):
    rng = np.random.default_rng(0)
    flux = 1 - 0.3 * rng.random((n_stars, DR3_WAVELENGTH_NM.size))
    flux[:, :5] = np.nan  # DR3 spectra have NaN at the ends
    err = np.full_like(flux, 0.02)
    return flux, err


def test_gaia_rvs_csv_with_array_cells(tmp_path):
    flux, err = _rvs_arrays()
    lines = ["source_id,solution_id,flux,flux_error"]
    for i in range(3):
        fs = (
            "[" + ", ".join("nan" if np.isnan(v) else f"{v:.6f}" for v in flux[i]) + "]"
        )
        es = "[" + ", ".join(f"{v:.6f}" for v in err[i]) + "]"
        lines.append(f'{4295806720 + i},375316653866487564,"{fs}","{es}"')
    path = tmp_path / "RVS-combined.csv"
    path.write_text("\n".join(lines) + "\n")
    raws = read_raw(path)  # identified as gaia-rvs
    assert [r.id for r in raws] == ["4295806720", "4295806721", "4295806722"]
    r = raws[0]
    assert r.medium == "vacuum"
    assert r.wavelength[0] == pytest.approx(8460.0) and r.wavelength[
        -1
    ] == pytest.approx(8700.0)
    assert np.all(r.ivar[:5] == 0) and np.allclose(r.ivar[5:], 2500, rtol=1e-4)
    np.testing.assert_allclose(r.flux[5:], flux[0, 5:], atol=1e-6)


def test_gaia_rvs_fits_and_per_pixel_csv(tmp_path):
    flux, err = _rvs_arrays(2)
    t = Table(
        {
            "source_id": np.array([11, 12]),
            "wavelength": np.tile(DR3_WAVELENGTH_NM, (2, 1)),
            "flux": flux,
            "flux_error": err,
        }
    )
    t["wavelength"].unit = "nm"
    path = tmp_path / "rvs.fits"
    t.write(path)
    raws = read_raw(path, format="gaia-rvs")
    assert [r.id for r in raws] == ["11", "12"]
    assert raws[1].wavelength[-1] == pytest.approx(8700.0)
    pix = tmp_path / "XP_RVS_99.csv"
    rows = ["wavelength,flux,flux_error"] + [
        f"{w:.2f},{f},{e}"
        for w, f, e in zip(DR3_WAVELENGTH_NM, flux[0], err[0], strict=True)
    ]
    pix.write_text("\n".join(rows) + "\n")
    (one,) = read_raw(pix, format="gaia-rvs")
    assert (
        one.wavelength.size == DR3_WAVELENGTH_NM.size
        and (one.ivar > 0).sum() == DR3_WAVELENGTH_NM.size - 5
    )


# --------------------------------------------------------- generic tables
def test_generic_csv_needs_a_wavelength_unit(tmp_path):
    wl = np.linspace(6000, 6010, 40)
    path = tmp_path / "star1.csv"
    path.write_text(
        "wavelength,flux,error\n" + "\n".join(f"{w},{1.0},{0.01}" for w in wl)
    )
    with pytest.raises(
        StarlabelInputError,
        match=r"star1\.csv: wavelength column 'wavelength' has no unit",
    ):
        read_raw(path, format="table")
    (raw,) = read_raw(path, format="table", wavelength_unit="Angstrom")
    assert raw.id == "star1" and np.allclose(raw.ivar, 1e4)
    named = tmp_path / "star2.csv"
    named.write_text(
        "wave [nm],flux,ivar\n" + "\n".join(f"{w / 10},{1.0},{400.0}" for w in wl)
    )
    (raw2,) = read_raw(named)
    np.testing.assert_allclose(raw2.wavelength, wl)
    np.testing.assert_allclose(raw2.ivar, 400.0)


def test_generic_long_table_with_ids_and_parquet(tmp_path):
    import pandas as pd

    wl = np.linspace(6000, 6010, 30)
    df = pd.DataFrame(
        {
            "star_id": ["a"] * 30 + ["b"] * 30,
            "wavelength_aa": np.tile(wl, 2),
            "flux": 1.0,
            "sigma": 0.05,
        }
    )
    path = tmp_path / "many.parquet"
    df.to_parquet(path)
    raws = read_raw(path)
    assert [r.id for r in raws] == ["a", "b"] and np.allclose(raws[1].ivar, 400.0)


def test_expand_paths_directories_and_globs(tmp_path):
    for name in ("b.fits", "a.fits", ".hidden"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in expand_paths([tmp_path])] == ["a.fits", "b.fits"]
    assert [p.name for p in expand_paths([str(tmp_path / "*.fits")])] == [
        "a.fits",
        "b.fits",
    ]
    with pytest.raises(StarlabelInputError, match="pattern matches no file"):
        expand_paths([str(tmp_path / "*.csv")])


# -------------------------------------------------------------- bad input
def _good_fits(path, star="good"):
    wl = np.arange(5400.0, 5420.0, 0.05)
    write_eso_spectrum(path, wl, np.ones(wl.size), np.full(wl.size, 100.0), star=star)


def test_empty_and_truncated_fits(tmp_path):
    empty = tmp_path / "empty.fits"
    empty.write_bytes(b"")
    with pytest.raises(StarlabelInputError, match=r"empty\.fits: empty file"):
        read_raw(empty, format="ges")
    good = tmp_path / "g.fits"
    _good_fits(good)
    cut = tmp_path / "cut.fits"
    cut.write_bytes(good.read_bytes()[:3000])
    with pytest.raises(
        StarlabelInputError, match=r"cut\.fits: not a readable FITS file"
    ):
        read_raw(cut, format="ges")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda wl, f, iv: (wl[::-1].copy(), f, iv), "not strictly increasing"),
        (lambda wl, f, iv: (wl / 10.0, f, iv), "implausible .* wrong unit"),
        (lambda wl, f, iv: (wl, np.full_like(f, np.nan), iv), "no usable pixel"),
        (lambda wl, f, iv: (wl, f, -iv), "negative"),
    ],
)
def test_bad_spectra_are_named_and_skipped_in_batches(tmp_path, mutate, message):
    wl = np.arange(5400.0, 5420.0, 0.05)
    f, iv = np.ones(wl.size), np.full(wl.size, 100.0)
    bad_wl, bad_f, bad_iv = mutate(wl, f, iv)
    bad = tmp_path / "bad.fits"
    cols = [
        fits.Column("WAVE", f"{wl.size}D", unit="Angstrom", array=bad_wl[None]),
        fits.Column("FLUX", f"{wl.size}E", array=bad_f[None]),
        fits.Column("IVAR", f"{wl.size}E", array=bad_iv[None]),
    ]
    fits.HDUList(
        [
            fits.PrimaryHDU(header=fits.Header({"CNAME": "broken-star"})),
            fits.BinTableHDU.from_columns(cols),
        ]
    ).writeto(bad)
    with pytest.raises(
        StarlabelInputError, match=rf"bad\.fits: star broken-star: .*{message}"
    ) as exc:
        read_raw(bad, format="ges")
    assert "\n" not in str(exc.value)
    _good_fits(tmp_path / "a.fits", "a")
    _good_fits(tmp_path / "c.fits", "c")
    rejected = []
    got = list(
        iter_raw(
            [tmp_path / "a.fits", bad, tmp_path / "c.fits"], "ges", rejected=rejected
        )
    )
    assert [r.id for r in got] == ["a", "c"]
    assert (
        len(rejected) == 1
        and rejected[0].star == "broken-star"
        and rejected[0].source.endswith("bad.fits")
    )


def test_one_bad_row_in_a_multi_star_file_loses_nothing_else(tmp_path):
    flux, err = _rvs_arrays(3)
    err[1] = -1.0  # negative errors for the second star only
    t = Table({"source_id": np.array([1, 2, 3]), "flux": flux, "flux_error": err})
    path = tmp_path / "rvs.fits"
    t.write(path)
    rejected = []
    got = list(iter_raw([path], "gaia-rvs", rejected=rejected))
    assert [r.id for r in got] == ["1", "3"]
    assert rejected[0].star == "2" and "negative" in rejected[0].reason


# ------------------------------------------------ identification by content
def _identified(path):
    from starlabel.spectra.io.registry import _find_reader

    return _find_reader(path, None).name


def test_synthetic_rvs_raw_files_are_identified_by_content(tmp_path):
    from starlabel.synth.population import sample_population
    from starlabel.synth.raw import write_raw_observations

    pop = sample_population(2, seed=5, snr=(50, 60))
    files, _, _ = write_raw_observations(
        tmp_path / "raw", pop, setup="gaia-rvs", seed=5
    )
    assert [f.name for f in files] == [
        "synth-s5-0000000_RVS.fits",
        "synth-s5-0000001_RVS.fits",
    ]
    assert [_identified(f) for f in files] == ["ges", "ges"]
    rejected = []
    got = list(
        iter_raw(
            expand_paths([str(tmp_path / "raw" / "*_RVS.fits")]), rejected=rejected
        )
    )
    assert not rejected and [r.id for r in got] == [
        "synth-s5-0000000",
        "synth-s5-0000001",
    ]
    assert all(r.setup == "RVS" for r in got)


def test_gaia_rvs_files_are_identified_whatever_their_name(tmp_path):
    flux, err = _rvs_arrays(2)
    t = Table({"source_id": np.array([11, 12]), "flux": flux, "flux_error": err})
    for name in ("spectra-dr3.fits", "rvs.fits", "RVS_HR21.fits"):
        t.write(tmp_path / name)
        assert _identified(tmp_path / name) == "gaia-rvs", name
    csv = tmp_path / "downloaded.csv"
    csv.write_text("wavelength,flux,flux_error\n846.0,0.9,0.01\n846.01,0.91,0.01\n")
    assert _identified(csv) == "gaia-rvs"
    # an ESO spectrum whose name says RVS is an ESO spectrum
    wl = np.arange(8460.0, 8700.0, 0.1)
    write_eso_spectrum(
        tmp_path / "star_RVS.fits", wl, np.ones(wl.size), np.ones(wl.size), star="x"
    )
    assert _identified(tmp_path / "star_RVS.fits") == "ges"
    write_eso_spectrum(
        tmp_path / "rvs_table.fits",
        wl,
        np.ones(wl.size),
        np.ones(wl.size),
        star="y",
        layout="table",
    )
    assert _identified(tmp_path / "rvs_table.fits") == "ges"


def test_apogee_files_are_identified_by_their_headers(shared_data, tmp_path):
    import shutil

    star = tmp_path / "star.fits"
    visit = tmp_path / "visit.fits"
    shutil.copy(shared_data / "apogee" / "apStar-dr17-2M17335483-2753043.fits", star)
    shutil.copy(shared_data / "apogee" / "apVisit-r13-5095-55844-128.fits", visit)
    assert _identified(star) == "apogee-apstar"
    assert _identified(visit) == "apogee-apvisit"


def test_a_fits_file_of_no_known_layout_is_a_one_line_error(tmp_path):
    odd = tmp_path / "apStar-looks-like.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.ones((3, 3, 3)))]).writeto(odd)
    with pytest.raises(StarlabelInputError, match="cannot tell the file format") as exc:
        read_raw(odd)
    assert "\n" not in str(exc.value)
    junk = tmp_path / "rvs.fits"
    junk.write_bytes(b"not a fits file at all" * 10)
    with pytest.raises(StarlabelInputError, match=r"rvs\.fits: not a readable FITS"):
        read_raw(junk)
