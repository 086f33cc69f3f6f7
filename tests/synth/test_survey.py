import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from starlabel.cli.main import app
from starlabel.spectra import PrepareConfig, prepare_files, read_catalogue, read_dataset
from starlabel.synth.physics import LABELS, SpectrumGenerator
from starlabel.synth.population import sample_population
from starlabel.synth.raw import write_raw_observations
from starlabel.synth.survey import (
    CRLB_LABELS,
    crlb,
    noise_sigma,
    synthesize,
    write_survey,
)

runner = CliRunner()


@pytest.fixture(scope="module")
def hr10():
    return SpectrumGenerator("giraffe-hr10", device="cpu")


def test_crlb_scales_as_one_over_snr(hr10):
    pop = sample_population(6, seed=2)
    lab = pop.array()
    with torch.no_grad():
        flux = hr10(torch.as_tensor(lab, dtype=torch.float32)).numpy()
    b50 = crlb(hr10, lab, 1.0 / noise_sigma(flux, np.full(6, 50.0)) ** 2)
    b100 = crlb(hr10, lab, 1.0 / noise_sigma(flux, np.full(6, 100.0)) ** 2)
    finite = np.isfinite(b50)
    np.testing.assert_allclose(b50[finite] / b100[finite], 2.0, rtol=1e-4)
    assert np.all(~finite[:, CRLB_LABELS.index("a_li")])  # no Li line in HR10
    assert finite[:, CRLB_LABELS.index("teff")].all()


def test_crlb_matches_a_brute_force_fisher_matrix(hr10):
    """Independent check: Fisher matrix from finite differences, inverted in numpy."""
    lab = sample_population(1, seed=5).array()
    with torch.no_grad():
        flux = hr10(torch.as_tensor(lab, dtype=torch.float32)).numpy()
    ivar = 1.0 / noise_sigma(flux, np.array([80.0])) ** 2
    names = [n for n in CRLB_LABELS if n != "a_li"]
    gen64 = SpectrumGenerator("giraffe-hr10", dtype=torch.float64, device="cpu")
    x = torch.as_tensor(lab, dtype=torch.float64)
    cols = []
    for name in names:
        h = 1.0 if name == "teff" else 1e-3
        d = torch.zeros_like(x)
        d[0, LABELS.index(name)] = h
        with torch.no_grad():
            cols.append(((gen64(x + d) - gen64(x - d)) / (2 * h))[0].numpy())
    jac = np.stack(cols, axis=1)
    fisher = jac.T @ (ivar[0][:, None] * jac)
    expected = np.sqrt(np.diag(np.linalg.inv(fisher)))
    got = crlb(gen64, lab, ivar)[0]
    got = np.array([got[CRLB_LABELS.index(n)] for n in names])
    np.testing.assert_allclose(got, expected, rtol=2e-3)


def test_same_seed_same_file(tmp_path):
    def make(path):
        pop = sample_population(8, seed=4)
        write_survey(
            path,
            synthesize(
                pop, setup="giraffe-hr10", seed=4, with_crlb=False, device="cpu"
            ),
        )

    make(tmp_path / "a.h5")
    make(tmp_path / "b.h5")
    assert (tmp_path / "a.h5").read_bytes() == (tmp_path / "b.h5").read_bytes()
    sp = read_dataset(tmp_path / "a.h5")
    assert (
        sp.n_spectra == 8
        and set(LABELS) <= set(sp.labels)
        and sp.label_units["teff"] == "K"
    )
    # the noise is what the inverse variance says it is
    truth = read_dataset(
        tmp_path / "a.h5"
    )  # same file; regenerate noise-free to compare
    pop = sample_population(8, seed=4)
    clean = next(
        synthesize(
            pop, setup="giraffe-hr10", noise=False, with_crlb=False, device="cpu"
        )
    )
    pulls = (truth.flux - clean.flux) * np.sqrt(truth.ivar)
    assert abs(np.std(pulls) - 1.0) < 0.02


def test_raw_observations_prepare_back_to_the_truth(tmp_path):
    pop = sample_population(5, seed=11, snr=(40, 80))
    files, catalogue, truth_path = write_raw_observations(
        tmp_path / "raw", pop, setup="giraffe-hr10-hr21", seed=11
    )
    assert len(files) == 10 and catalogue.exists()
    cat = read_catalogue(
        catalogue,
        id_column="CNAME",
        mapping=[
            "TEFF=teff",
            "LOGG=logg",
            "FEH=fe_h",
            "MG_FE=mg_fe",
            "VRAD=rv",
            "E_VRAD=rv_err",
        ],
    )
    out = tmp_path / "prepared.h5"
    report = prepare_files(
        files,
        out,
        format="ges",
        catalogue=cat,
        config=PrepareConfig(grid="giraffe-hr10-hr21", shift_rv=True),
    )
    assert report.n_written == 5
    got, truth = read_dataset(out), read_dataset(truth_path)
    truth = truth.select(got.ids)
    good = got.ivar > 0
    chi2 = [
        np.mean(((got.flux[i] - truth.flux[i]) ** 2 * got.ivar[i])[good[i]])
        for i in range(5)
    ]
    assert max(chi2) < 1.3, (
        chi2
    )  # within the noise: spikes masked, RV undone, noise propagated
    assert (
        np.abs(got.meta["rv"] - truth.meta["rv"]).max() < 2.0
    )  # catalogue RV is a measurement


def test_raw_with_continuum_is_normalised_back(tmp_path):
    pop = sample_population(3, seed=12, snr=(80, 120))
    files, catalogue, truth_path = write_raw_observations(
        tmp_path / "raw", pop, setup="giraffe-hr10", seed=12, continuum=True
    )
    cat = read_catalogue(catalogue, id_column="CNAME", mapping=["TEFF=teff", "VRAD=rv"])
    out = tmp_path / "p.h5"
    prepare_files(
        files,
        out,
        format="ges",
        catalogue=cat,
        config=PrepareConfig(
            grid="giraffe-hr10", shift_rv=True, normalise="percentile"
        ),
    )
    got = read_dataset(out)
    truth = read_dataset(truth_path).select(got.ids)
    good = got.ivar > 0
    assert np.median(np.abs(got.flux - truth.flux)[good]) < 0.02


def test_synth_command_and_labels_from_table(tmp_path):
    table = tmp_path / "grid.csv"
    pd.DataFrame(
        {
            "id": ["sun", "giant"],
            "teff": [5777, 4500],
            "logg": [4.44, 2.0],
            "fe_h": [0.0, -1.0],
            "mg_fe": [0.0, 0.3],
        }
    ).to_csv(table, index=False)
    out = tmp_path / "grid.h5"
    result = runner.invoke(
        app,
        [
            "synth",
            "--setup",
            "giraffe-hr10",
            "--labels-from",
            str(table),
            "--noise-free",
            "--snr",
            "100",
            "-o",
            str(out),
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    sp = read_dataset(out)
    assert sp.ids.tolist() == ["sun", "giant"]
    assert sp.labels["vmic"][0] == pytest.approx(
        1.0, abs=0.2
    )  # from the Teff-log g relation
    assert np.all(np.isfinite(sp.labels_crlb["teff"]))
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"teff": [5000]}).to_csv(bad, index=False)
    result = runner.invoke(
        app, ["synth", "--labels-from", str(bad), "-o", str(tmp_path / "x.h5")]
    )
    assert result.exit_code == 2 and "needs columns" in result.output


def test_synth_plot(tmp_path):
    result = runner.invoke(
        app, ["synth", "--setup", "giraffe-hr15n", "--plot", str(tmp_path / "f.png")]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"


def test_ids_carry_the_seed_in_every_output(tmp_path):
    from starlabel.spectra.io import read_raw
    from starlabel.synth.survey import synth_ids

    assert synth_ids(3, 7).tolist() == [
        "synth-s7-0000000",
        "synth-s7-0000001",
        "synth-s7-0000002",
    ]
    pop = sample_population(2, seed=3, snr=(50, 60))
    n = write_survey(
        tmp_path / "s.h5",
        synthesize(pop, setup="giraffe-hr10", seed=3, with_crlb=False, device="cpu"),
    )
    assert n == 2
    assert read_dataset(tmp_path / "s.h5").ids.tolist() == [
        "synth-s3-0000000",
        "synth-s3-0000001",
    ]
    other = next(synthesize(pop, setup="giraffe-hr10", seed=4, with_crlb=False))
    assert not set(other.ids) & {"synth-s3-0000000", "synth-s3-0000001"}
    files, catalogue, truth = write_raw_observations(
        tmp_path / "raw", pop, setup="giraffe-hr10", seed=3
    )
    assert [f.name for f in files] == [
        "synth-s3-0000000_HR10.fits",
        "synth-s3-0000001_HR10.fits",
    ]
    assert [read_raw(f)[0].id for f in files] == [
        "synth-s3-0000000",
        "synth-s3-0000001",
    ]
    cat = read_catalogue(catalogue, id_column="CNAME", mapping=["TEFF=teff"])
    assert cat.ids.tolist() == ["synth-s3-0000000", "synth-s3-0000001"]
    assert read_dataset(truth).ids.tolist() == cat.ids.tolist()


def test_survey_outputs_are_checked_before_any_work(tmp_path):
    from starlabel.errors import StarlabelInputError

    made = []

    def batches():
        made.append(1)
        yield from synthesize(sample_population(2, seed=1), setup="giraffe-hr10")

    with pytest.raises(StarlabelInputError, match=r"x\.csv: the file name must end in"):
        write_survey(tmp_path / "x.csv", batches())
    (tmp_path / "d.h5").mkdir()
    with pytest.raises(StarlabelInputError, match="is a directory"):
        write_survey(tmp_path / "d.h5", batches(), overwrite=True)
    (tmp_path / "old.h5").write_text("mine")
    with pytest.raises(StarlabelInputError, match="exists and was not written by"):
        write_survey(tmp_path / "old.h5", batches(), overwrite=True)
    assert made == [] and (tmp_path / "old.h5").read_text() == "mine"

    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "notes.txt").write_text("mine")
    pop = sample_population(1, seed=1)
    for flag in (False, True):
        with pytest.raises(
            StarlabelInputError, match="raw: folder holds files and was not"
        ):
            write_raw_observations(raw, pop, setup="giraffe-hr10", overwrite=flag)
    assert sorted(p.name for p in raw.iterdir()) == ["notes.txt"]
    with pytest.raises(StarlabelInputError, match="not a directory"):
        write_raw_observations(raw / "notes.txt", pop, setup="giraffe-hr10")
    assert (raw / "notes.txt").read_text() == "mine"
    ours = tmp_path / "ours"
    files, _, _ = write_raw_observations(ours, pop, setup="giraffe-hr10")
    with pytest.raises(StarlabelInputError, match="pass --overwrite"):
        write_raw_observations(ours, pop, setup="giraffe-hr10")
    files, _, _ = write_raw_observations(
        ours, pop, setup="giraffe-hr10", overwrite=True
    )
    assert files[0].exists() and files[0].parent == ours
