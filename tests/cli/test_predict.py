"""starlabel predict with a cINN: the options reach the model; parts are described."""

import numpy as np
from typer.testing import CliRunner

from starlabel.cli.main import app
from starlabel.inference import read_catalogue_table
from starlabel.models import CINNConfig, ConditionalINNRegressor
from starlabel.spectra import write_dataset
from starlabel.training import TrainConfig

from ..models.cinn_toy import toy_spectra

runner = CliRunner()
TINY = CINNConfig(
    cond_dims=(8, 8),
    channels=(4, 4),
    kernel_size=4,
    pool=(2, 2),
    stage_hidden=16,
    dense=(16,),
    hidden=16,
    train=TrainConfig(max_epochs=2, optimizer="adam", lr=1e-3),
)


def test_precision_mode_from_the_command_line(tmp_path):
    ConditionalINNRegressor(TINY, device="cpu").fit(toy_spectra(200, 0)).save(
        tmp_path / "m"
    )
    write_dataset(toy_spectra(12, 1), tmp_path / "d.h5")
    base = ["predict", str(tmp_path / "m"), str(tmp_path / "d.h5"), "-q"]
    fast = runner.invoke(app, [*base, "-o", str(tmp_path / "f.parquet")])
    assert fast.exit_code == 0, fast.output
    prec = runner.invoke(
        app,
        [
            *base,
            "--mode",
            "precision",
            "--n-external",
            "4",
            "--n-internal",
            "20",
            "--seed",
            "3",
            "-o",
            str(tmp_path / "p.parquet"),
        ],
    )
    assert prec.exit_code == 0, prec.output
    f, p = (
        read_catalogue_table(tmp_path / "f.parquet"),
        read_catalogue_table(tmp_path / "p.parquet"),
    )
    name = [c for c in f.colnames if c.endswith("_err_ext")][0]
    assert (
        np.isnan(np.asarray(f[name], float)).all()
        and np.isfinite(np.asarray(p[name], float)).all()
    )
    assert f.meta["SLMODEL"].startswith("cinn")
