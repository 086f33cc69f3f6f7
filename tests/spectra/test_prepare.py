import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from starlabel.errors import StarlabelInputError
from starlabel.spectra import (
    Flag,
    PrepareConfig,
    named_grid,
    prepare_files,
    read_catalogue,
    read_dataset,
)
from starlabel.spectra.io.eso import write_eso_spectrum
from starlabel.spectra.preprocess import resample

from ..toy_survey import toy_flux, write_toy_survey

MAPPING = [
    "TEFF=teff",
    "E_TEFF=teff_err",
    "LOGG=logg",
    "FEH=fe_h",
    "E_FEH=fe_h_err",
    "VRAD=rv",
]


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    out = tmp_path_factory.mktemp("toy")
    files, cat = write_toy_survey(out, n_stars=12, seed=3)
    return files, cat


def _truth_on_grid(labels_row, grid, seed):
    """Noise-free toy flux, bin-averaged onto the grid from a 0.005 A grid."""
    out = []
    for seg in grid.segments:
        fine = np.arange(seg[0] - 1, seg[-1] + 1, 0.005)
        f = toy_flux(fine, labels_row, seed=seed)[0]
        out.append(resample(fine, f, np.ones(fine.size), seg)[0])
    return np.concatenate(out)


def test_prepared_spectra_match_the_noise_free_truth(toy, tmp_path):
    files, cat_path = toy
    catalogue = read_catalogue(cat_path, id_column="CNAME", mapping=MAPPING)
    out = tmp_path / "toy.h5"
    report = prepare_files(
        files,
        out,
        format="ges",
        catalogue=catalogue,
        config=PrepareConfig(grid="giraffe-hr10-hr21", shift_rv=True),
    )
    assert report.n_read == 24 and report.n_written == 12 and not report.rejected
    sp = read_dataset(out)
    assert sp.n_pixels == 8669 and sp.rest_frame and sp.medium == "air"
    assert set(sp.labels) == {"teff", "logg", "fe_h"} and "teff" in sp.labels_err
    assert all(s == "HR10+HR21" for s in sp.meta["setup"])
    grid = named_grid("giraffe-hr10-hr21")
    chi2 = []
    for i in range(sp.n_spectra):
        labels = np.array(
            [[sp.labels["teff"][i], sp.labels["logg"][i], sp.labels["fe_h"][i]]]
        )
        truth = _truth_on_grid(labels, grid, seed=3)
        good = sp.ivar[i] > 0
        chi2.append(np.mean((sp.flux[i][good] - truth[good]) ** 2 * sp.ivar[i][good]))
        # each setup contributed its segment
        assert good[:4168].mean() > 0.95 and good[4168:].mean() > 0.9
    # Within the noise: reduced chi^2 near 1 for every star (cosmic rays were masked,
    # the RV shift was undone, ivar was propagated through resampling).
    assert 0.8 < np.median(chi2) < 1.2 and max(chi2) < 1.4, chi2
    # Without the RV correction the lines sit in the wrong place: far outside the noise.
    unshifted = tmp_path / "noshift.h5"
    prepare_files(
        files,
        unshifted,
        format="ges",
        catalogue=catalogue,
        config=PrepareConfig(grid="giraffe-hr10-hr21"),
    )
    raw = read_dataset(unshifted)
    i = int(np.argmax(np.abs(catalogue.meta["rv"])))
    truth = _truth_on_grid(
        np.array([[raw.labels[k][i] for k in ("teff", "logg", "fe_h")]]), grid, seed=3
    )
    good = raw.ivar[i] > 0
    assert np.mean((raw.flux[i][good] - truth[good]) ** 2 * raw.ivar[i][good]) > 3


def test_no_grid_keeps_the_shared_grid_or_takes_the_union(toy, tmp_path):
    files, _ = toy
    hr10 = [f for f in files if "HR10" in f.name]
    report = prepare_files(hr10, tmp_path / "a.h5", format="ges")
    assert (
        report.grid.name == "input"
        and report.grid.n_pixels == named_grid("giraffe-hr10").n_pixels
    )
    report = prepare_files(files, tmp_path / "b.h5", format="ges")
    assert report.grid.name == "union" and len(report.grid.segments) == 2
    lo10, hi10 = report.grid.segments[0][[0, -1]]
    assert lo10 == pytest.approx(5339.0) and hi10 == pytest.approx(5619.0, abs=0.05)


def _star_file(path, star, wl, snr=100.0):
    write_eso_spectrum(path, wl, np.ones(wl.size), np.full(wl.size, snr**2), star=star)


def test_batch_skips_bad_stars_and_writes_the_rest(tmp_path):
    wl = np.arange(5339.0, 5619.0, 0.05)
    _star_file(tmp_path / "a.fits", "a", wl)
    _star_file(
        tmp_path / "b.fits", "b", np.arange(6000.0, 6100.0, 0.05)
    )  # misses the grid
    _star_file(tmp_path / "c.fits", "c", wl, snr=5.0)  # fails the S/N cut
    (tmp_path / "d.fits").write_bytes(b"")  # empty file
    _star_file(tmp_path / "e.fits", "e", wl)  # not in the catalogue
    Table({"ID": ["a", "b", "c", "d"], "TEFF": [5000.0, 5100, 5200, 5300]}).write(
        tmp_path / "cat.fits"
    )
    cat = read_catalogue(tmp_path / "cat.fits", id_column="ID", mapping=["TEFF=teff"])
    out = tmp_path / "out.h5"
    report = prepare_files(
        sorted(tmp_path.glob("*.fits")),
        out,
        format="ges",
        catalogue=cat,
        config=PrepareConfig(grid="giraffe-hr10", min_snr=20),
    )
    sp = read_dataset(out)
    assert sp.ids.tolist() == ["a", "e"]
    assert np.isnan(sp.labels["teff"][1]) and sp.meta["flag"][1] & Flag.NO_LABELS
    reasons = {r.star or r.source.split("/")[-1]: r.reason for r in report.rejected}
    assert "does not overlap the grid" in reasons["b"]
    assert reasons["c"].startswith("S/N")
    assert "empty file" in reasons["d.fits"]
    assert all("\n" not in r for r in reasons.values())


def test_catalogue_without_matching_ids_is_an_error(tmp_path):
    wl = np.arange(5339.0, 5619.0, 0.05)
    _star_file(tmp_path / "a.fits", "a", wl)
    Table({"ID": ["x", "y"], "TEFF": [5000.0, 5100]}).write(tmp_path / "cat.fits")
    cat = read_catalogue(tmp_path / "cat.fits", id_column="ID", mapping=["TEFF=teff"])
    with pytest.raises(
        StarlabelInputError, match=r"cat\.fits: none of the 1 spectrum ids match"
    ):
        prepare_files(
            [tmp_path / "a.fits"], tmp_path / "o.h5", format="ges", catalogue=cat
        )
    assert not (tmp_path / "o.h5").exists()


def test_missing_rv_skips_the_star(tmp_path):
    wl = np.arange(5339.0, 5619.0, 0.05)
    _star_file(tmp_path / "a.fits", "a", wl)
    _star_file(tmp_path / "b.fits", "b", wl)
    Table({"ID": ["a", "b"], "RV": [12.0, np.nan]}).write(tmp_path / "cat.fits")
    cat = read_catalogue(tmp_path / "cat.fits", id_column="ID", mapping=["RV=rv"])
    report = prepare_files(
        [tmp_path / "a.fits", tmp_path / "b.fits"],
        tmp_path / "o.h5",
        format="ges",
        catalogue=cat,
        config=PrepareConfig(shift_rv=True),
    )
    assert read_dataset(tmp_path / "o.h5").ids.tolist() == ["a"]
    assert "no radial velocity" in report.rejected[0].reason


def test_nothing_passes_writes_nothing(tmp_path):
    _star_file(tmp_path / "a.fits", "a", np.arange(6000.0, 6100.0, 0.05))
    with pytest.raises(StarlabelInputError, match="nothing written .*does not overlap"):
        prepare_files(
            [tmp_path / "a.fits"],
            tmp_path / "o.h5",
            format="ges",
            config=PrepareConfig(grid="giraffe-hr10"),
        )
    assert not (tmp_path / "o.h5").exists()


def test_vacuum_input_is_converted_to_an_air_grid(tmp_path):
    from starlabel.spectra.preprocess import air_to_vacuum

    air = np.arange(8480.0, 8700.0, 0.05)
    flux = 1 - 0.6 * np.exp(-0.5 * ((air - 8542.09) / 0.3) ** 2)  # Ca II in air
    vac = air_to_vacuum(air)
    cols = [
        fits.Column("WAVE", f"{air.size}D", unit="Angstrom", array=vac[None]),
        fits.Column("FLUX", f"{air.size}E", array=flux[None]),
        fits.Column("IVAR", f"{air.size}E", array=np.full((1, air.size), 1e4)),
    ]
    path = tmp_path / "vac.fits"
    fits.HDUList(
        [
            fits.PrimaryHDU(header=fits.Header({"CNAME": "v"})),
            fits.BinTableHDU.from_columns(cols),
        ]
    ).writeto(path)
    prepare_files(
        [path],
        tmp_path / "o.h5",
        format="ges",
        reader_options={"medium": "vacuum"},
        config=PrepareConfig(grid="giraffe-hr21"),
    )
    sp = read_dataset(tmp_path / "o.h5")
    wl = sp.wavelength_aa
    near = np.abs(wl - 8542.09) < 1.5
    centre = wl[near][np.argmin(sp.flux[0][near])]
    assert abs(centre - 8542.09) < 0.06


def test_output_is_checked_before_any_work(tmp_path):
    # The input does not exist: the output errors must come first.
    missing = [tmp_path / "absent.fits"]
    with pytest.raises(StarlabelInputError, match=r"o\.csv: the file name must end in"):
        prepare_files(missing, tmp_path / "o.csv", format="ges")
    (tmp_path / "dir.h5").mkdir()
    with pytest.raises(StarlabelInputError, match=r"dir\.h5: is a directory"):
        prepare_files(missing, tmp_path / "dir.h5", format="ges", overwrite=True)
    (tmp_path / "mine.h5").write_text("mine")
    for overwrite in (False, True):  # a user's file: never replaced
        with pytest.raises(StarlabelInputError, match=r"mine\.h5: exists and was not"):
            prepare_files(
                missing, tmp_path / "mine.h5", format="ges", overwrite=overwrite
            )
    assert (tmp_path / "mine.h5").read_text() == "mine"
    wl = np.arange(5339.0, 5619.0, 0.05)
    _star_file(tmp_path / "a.fits", "a", wl)
    prepare_files([tmp_path / "a.fits"], tmp_path / "old.h5", format="ges")
    with pytest.raises(StarlabelInputError, match=r"old\.h5: exists .*--overwrite"):
        prepare_files(missing, tmp_path / "old.h5", format="ges")
    prepare_files(
        [tmp_path / "a.fits"], tmp_path / "old.h5", format="ges", overwrite=True
    )
    assert read_dataset(tmp_path / "old.h5").ids.tolist() == ["a"]


@pytest.mark.parametrize("clean", [True, False])
def test_non_physical_raw_pixels_are_masked_and_counted(tmp_path, clean):
    wl = np.arange(5339.0, 5619.0, 0.05)
    flux = 1 - 0.4 * np.exp(-0.5 * ((wl - 5500.0) / 0.2) ** 2)
    bad_at = {1000: 1e30, 2000: -1e30, 3000: np.inf, 4000: np.nan}
    broken = flux.copy()
    for k, v in bad_at.items():
        broken[k] = v
    ivar = np.full(wl.size, 1e4)
    write_eso_spectrum(
        tmp_path / "bad.fits", wl, broken, ivar, star="bad", layout="table"
    )
    write_eso_spectrum(tmp_path / "ok.fits", wl, flux, ivar, star="ok", layout="table")
    report = prepare_files(
        [tmp_path / "bad.fits", tmp_path / "ok.fits"],
        tmp_path / "o.h5",
        format="ges",
        config=PrepareConfig(clean=clean),
    )
    # float32 keeps 1e30: 1e30, -1e30 and inf count; NaN is a missing pixel (masked)
    assert report.n_nonphysical == 3
    sp = read_dataset(tmp_path / "o.h5")
    bad, ok = sp.select(["bad"]), sp.select(["ok"])
    assert bad.meta["flag"][0] & Flag.NONPHYSICAL_FLUX
    assert not ok.meta["flag"][0] & Flag.NONPHYSICAL_FLUX
    # the output grid is the input grid: the bad pixels are masked there, and the
    # flux of every pixel is finite and near the true one
    for k in bad_at:
        assert bad.ivar[0, k] == 0
    assert np.all(np.isfinite(bad.flux)) and np.max(np.abs(bad.flux - flux)) < 0.05
    good = bad.ivar[0] > 0
    np.testing.assert_allclose(bad.flux[0][good], ok.flux[0][good], rtol=1e-6)


def test_unnormalised_spectra_are_skipped_with_the_reason(tmp_path):
    wl = np.arange(5339.0, 5619.0, 0.05)
    write_eso_spectrum(
        tmp_path / "raw.fits",
        wl,
        np.full(wl.size, 1500.0),
        np.full(wl.size, 1.0),
        star="adu",
    )
    _star_file(tmp_path / "a.fits", "a", wl)
    report = prepare_files(
        [tmp_path / "raw.fits", tmp_path / "a.fits"], tmp_path / "o.h5", format="ges"
    )
    assert read_dataset(tmp_path / "o.h5").ids.tolist() == ["a"]
    (rej,) = report.rejected
    assert (
        rej.star == "adu" and "not continuum-normalised; use --normalise" in rej.reason
    )
    # normalising first, the same file is fine
    prepare_files(
        [tmp_path / "raw.fits"],
        tmp_path / "n.h5",
        format="ges",
        config=PrepareConfig(normalise="percentile"),
    )
    assert read_dataset(tmp_path / "n.h5").ids.tolist() == ["adu"]


def test_masked_nan_pixels_are_missing_not_non_physical(tmp_path):
    """A dead column delivered as NaN with ivar 0 (as readers and archives do) is an
    ordinary masked pixel: no NONPHYSICAL_FLUX flag, no count."""
    wl = np.arange(5339.0, 5619.0, 0.05)
    flux = 1 - 0.4 * np.exp(-0.5 * ((wl - 5500.0) / 0.2) ** 2)
    ivar = np.full(wl.size, 1e4)
    flux[100:110], ivar[100:110] = np.nan, 0.0
    write_eso_spectrum(
        tmp_path / "dead.fits", wl, flux, ivar, star="dead", layout="table"
    )
    report = prepare_files([tmp_path / "dead.fits"], tmp_path / "o.h5", format="ges")
    assert report.n_nonphysical == 0
    assert not read_dataset(tmp_path / "o.h5").meta["flag"][0] & Flag.NONPHYSICAL_FLUX


# ------------------------------------------- repeats of one id (issue 26, defect 4)
def _lines_file(path, star, wl, centre, setup, snr=100.0):
    flux = 1 - 0.5 * np.exp(-0.5 * ((wl - centre) / 0.2) ** 2)
    write_eso_spectrum(path, wl, flux, np.full(wl.size, snr**2), star=star, setup=setup)


def test_two_spectra_of_one_id_and_setup_are_refused_not_co_added(tmp_path):
    wl = np.arange(5339.0, 5619.0, 0.05)
    _lines_file(tmp_path / "a.fits", "X", wl, 5400.0, "HR10")
    _lines_file(tmp_path / "b.fits", "X", wl, 5500.0, "HR10")
    with pytest.raises(
        StarlabelInputError, match=r"b\.fits: star X: .*a\.fits.*--repeats"
    ):
        prepare_files(sorted(tmp_path.glob("*.fits")), tmp_path / "o.h5", format="ges")
    assert not (tmp_path / "o.h5").exists()


def test_repeats_keep_distinct_ids_labels_and_pairs(tmp_path):
    from astropy.table import Table as T

    from starlabel._owned import text_marker

    hr10 = np.arange(5339.0, 5619.0, 0.05)
    hr21 = np.arange(8484.0, 9001.0, 0.05)
    _lines_file(tmp_path / "a.fits", "X", hr10, 5400.0, "HR10")
    _lines_file(tmp_path / "a21.fits", "X", hr21, 8600.0, "HR21")
    _lines_file(tmp_path / "b.fits", "X", hr10, 5500.0, "HR10")
    _lines_file(tmp_path / "c.fits", "Y", hr10, 5450.0, "HR10")
    Table({"ID": ["X", "Y"], "TEFF": [5000.0, 6000.0]}).write(tmp_path / "cat.fits")
    cat = read_catalogue(tmp_path / "cat.fits", id_column="ID", mapping=["TEFF=teff"])
    files = [tmp_path / n for n in ("a.fits", "a21.fits", "b.fits", "c.fits")]
    report = prepare_files(
        files,
        tmp_path / "o.h5",
        format="ges",
        catalogue=cat,
        config=PrepareConfig(grid="giraffe-hr10-hr21", repeats=True),
        pairs_out=tmp_path / "pairs.csv",
    )
    sp = read_dataset(tmp_path / "o.h5")
    assert sorted(sp.ids.tolist()) == ["X", "X~2", "Y"]
    assert report.repeat_of == {"X~2": "X"} and report.pairs == [("X", "X~2")]
    x, x2 = sp.select(["X"]), sp.select(["X~2"])
    wl = sp.wavelength_aa
    # each keeps its own line: no ivar-weighted mix of the two spectra
    assert x.flux[0][np.argmin(np.abs(wl - 5400))] < 0.6
    assert x.flux[0][np.argmin(np.abs(wl - 5500))] > 0.9
    assert x2.flux[0][np.argmin(np.abs(wl - 5500))] < 0.6
    assert x2.flux[0][np.argmin(np.abs(wl - 5400))] > 0.9
    # the first joins the HR21 spectrum; both repeats get the star's labels
    assert x.meta["setup"][0] == "HR10+HR21" and x2.meta["setup"][0] == "HR10"
    assert x.labels["teff"][0] == x2.labels["teff"][0] == 5000.0
    lines = (tmp_path / "pairs.csv").read_text().splitlines()
    assert lines[0] == text_marker() and lines[2:] == ["id1,id2", "X,X~2"]
    table = T.read(tmp_path / "pairs.csv", format="ascii.csv", comment="#")
    assert table.colnames == ["id1", "id2"] and list(table[0]) == ["X", "X~2"]


# ------------------------------------------- the rejected list (issue 26, defect 5)
def test_a_stale_rejected_list_of_ours_is_replaced_without_overwrite(tmp_path):
    from starlabel._owned import text_marker

    wl = np.arange(5339.0, 5619.0, 0.05)
    _star_file(tmp_path / "a.fits", "a", wl)
    (tmp_path / "broken.fits").write_bytes(b"")
    stale = tmp_path / "o.h5.rejected.csv"  # left by a run killed before its dataset
    stale.write_text(f"{text_marker()}\nsource,star,reason\nold.fits,,gone\n")
    files = [tmp_path / "a.fits", tmp_path / "broken.fits"]
    report = prepare_files(files, tmp_path / "o.h5", format="ges")
    assert report.rejected_file == stale
    text = stale.read_text()
    assert text.startswith(text_marker() + "\n") and "broken.fits" in text
    assert "old.fits" not in text
    # nothing skipped on the next run: the list of the old dataset goes with it
    prepare_files(
        [tmp_path / "a.fits"], tmp_path / "o.h5", format="ges", overwrite=True
    )
    assert not stale.exists()


def test_a_failure_after_the_list_is_placed_leaves_neither(tmp_path, monkeypatch):
    import starlabel.spectra.prepare.outputs as outputs_module

    def fail(name):
        if name == "between":
            raise OSError("disk gone")

    monkeypatch.setattr(outputs_module, "crash_point", fail)
    wl = np.arange(5339.0, 5619.0, 0.05)
    _star_file(tmp_path / "a.fits", "a", wl)
    (tmp_path / "broken.fits").write_bytes(b"")
    with pytest.raises(OSError, match="disk gone"):
        prepare_files(
            [tmp_path / "a.fits", tmp_path / "broken.fits"],
            tmp_path / "o.h5",
            format="ges",
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.fits", "broken.fits"]


# ---------------------------------------- coverage flags and messages (issue 26)
def test_partial_coverage_only_for_what_the_setups_could_cover(tmp_path):
    """The Ambrosch grid starts at 8480 A, HR21 at 8484 A: a star observed in full
    (and shifted to rest) is not partial; one missing a setup or a part of it is."""
    hr10 = np.arange(5339.0, 5619.0, 0.05)
    hr21 = np.arange(8484.0, 9001.0, 0.05)
    for star in ("full", "full2", "no21", "cut"):
        _star_file(tmp_path / f"{star}_10.fits", star, hr10)
    _star_file(tmp_path / "full_21.fits", "full", hr21)
    _star_file(tmp_path / "full2_21.fits", "full2", hr21)
    _star_file(tmp_path / "cut_21.fits", "cut", hr21[hr21 > 8700])
    Table(
        {"ID": ["full", "full2", "no21", "cut"], "RV": [-40.0, 40.0, 0.0, 0.0]}
    ).write(tmp_path / "cat.fits")
    cat = read_catalogue(tmp_path / "cat.fits", id_column="ID", mapping=["RV=rv"])
    prepare_files(
        sorted(tmp_path.glob("*.fits")),
        tmp_path / "o.h5",
        format="ges",
        catalogue=cat,
        config=PrepareConfig(grid="giraffe-hr10-hr21", shift_rv=True),
    )
    sp = read_dataset(tmp_path / "o.h5")
    partial = {
        i: bool(f & Flag.PARTIAL_COVERAGE)
        for i, f in zip(sp.ids.tolist(), sp.meta["flag"], strict=True)
    }
    assert partial == {"full": False, "full2": False, "no21": True, "cut": True}


def test_a_fully_masked_spectrum_on_the_grid_is_not_called_non_overlapping(tmp_path):
    wl = np.arange(5339.0, 5619.0, 0.05)
    write_eso_spectrum(
        tmp_path / "zero.fits", wl, np.zeros(wl.size), np.full(wl.size, 1e4), star="z"
    )
    _star_file(tmp_path / "a.fits", "a", wl)
    report = prepare_files(
        [tmp_path / "zero.fits", tmp_path / "a.fits"], tmp_path / "o.h5", format="ges"
    )
    (rej,) = report.rejected
    assert rej.star == "z" and "no usable pixel on the grid" in rej.reason
    assert "does not overlap" not in rej.reason
