"""`starlabel explain`, `map`, `predict --map` and `report` end to end on a toy survey."""

import numpy as np
from astropy.table import Table
from typer.testing import CliRunner

from starlabel.models.gandalf import GandalfConfig, LatentAutoencoder
from starlabel.spectra import write_dataset

from ..models.gandalf_toy import toy_spectra

runner = CliRunner()


def test_explain_map_predict_report(tmp_path):
    from starlabel.cli.main import app

    train, test = toy_spectra(300, 0), toy_spectra(40, 9)
    test.flux[-5:] += 0.3 * np.sin(np.arange(test.n_pixels))  # five spectra unlike any
    write_dataset(train, tmp_path / "train.h5")
    write_dataset(test, tmp_path / "test.h5")
    cfg = GandalfConfig(
        latent=4, encoder=(32,), decoder=(32,), max_epochs=5, regressor=(16,)
    )
    LatentAutoencoder(cfg, random_state=0).fit(train).save(tmp_path / "m")

    out = runner.invoke(
        app,
        [
            "explain",
            str(tmp_path / "m"),
            str(tmp_path / "test.h5"),
            "-o",
            str(tmp_path / "ex"),
            "--n-stars",
            "20",
            "--top",
            "3",
        ],
    )
    assert out.exit_code == 0, out.output
    lines = Table.read(tmp_path / "ex" / "saliency_lines.csv", format="ascii.csv")
    assert sorted(set(lines["label"])) == ["fe_h", "logg", "mg_fe"] and len(lines) == 9
    assert (tmp_path / "ex" / "saliency_logg.png").exists()

    out = runner.invoke(
        app,
        [
            "map",
            str(tmp_path / "train.h5"),
            str(tmp_path / "test.h5"),
            "-o",
            str(tmp_path / "map"),
            "--n-components",
            "10",
            "--colour",
            "logg",
        ],
    )
    assert out.exit_code == 0, out.output
    rows = Table.read(tmp_path / "map" / "map.csv", format="ascii.csv")
    data = rows[rows["set"] == "data"]
    assert len(data) == 40 and np.all(data["ood_score"][-5:] > 1)
    assert np.mean(data["ood_score"][:-5] > 1) < 0.2

    out = runner.invoke(
        app,
        [
            "predict",
            str(tmp_path / "m"),
            str(tmp_path / "test.h5"),
            "-q",
            "--map",
            str(tmp_path / "map" / "map.safetensors"),
            "-o",
            str(tmp_path / "cat.fits"),
        ],
    )
    assert out.exit_code == 0, out.output
    cat = Table.read(tmp_path / "cat.fits")
    np.testing.assert_allclose(cat["map_ood_score"], data["ood_score"], rtol=1e-5)
    assert np.all(cat["flag"][-5:] & 64)

    out = runner.invoke(
        app,
        [
            "report",
            str(tmp_path / "cat.fits"),
            "--truth",
            str(tmp_path / "test.h5"),
            "--explain",
            str(tmp_path / "ex"),
            "--map",
            str(tmp_path / "map"),
            "-o",
            str(tmp_path / "r.html"),
        ],
    )
    assert out.exit_code == 0, out.output
    page = (tmp_path / "r.html").read_text()
    assert "Needs teff, logg and fe_h" in page and "saliency_lines" not in page
    assert page.count("data:image/png;base64,") >= 7
