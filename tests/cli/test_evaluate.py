"""starlabel evaluate: says when the truth is not the file the catalogue came from."""

import pytest
from typer.testing import CliRunner

from starlabel.cli.main import app
from starlabel.inference import predict_file
from starlabel.models import CNNConfig, DeepEnsembleRegressor, EnsembleConfig
from starlabel.spectra import write_dataset
from starlabel.training import TrainConfig

from ..conftest import gaussian_line_spectra

runner = CliRunner()


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    root = tmp_path_factory.mktemp("ev")
    sp = gaussian_line_spectra(n=60, n_pixels=128, seed=2)
    cfg = EnsembleConfig(
        n_members=2,
        n_keep=2,
        cnn=CNNConfig(channels=(4,), kernel_size=5, pool=(4,), dense=(16,)),
        train=TrainConfig(max_epochs=2, optimizer="adam", lr=1e-3),
    )
    model = DeepEnsembleRegressor(cfg, device="cpu").fit(sp)
    write_dataset(sp[:40], root / "part.h5")
    write_dataset(sp, root / "all.h5")
    for suffix in ("fits", "csv", "parquet"):
        predict_file(model, root / "part.h5", root / f"cat.{suffix}")
    return root


@pytest.mark.parametrize("suffix", ["fits", "csv", "parquet"])
def test_the_catalogues_own_input_as_truth_is_silent(catalogue, tmp_path, suffix):
    result = runner.invoke(
        app,
        [
            "evaluate",
            str(catalogue / f"cat.{suffix}"),
            "--truth",
            str(catalogue / "part.h5"),
            "-o",
            str(tmp_path / "a"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output


@pytest.mark.parametrize("suffix", ["fits", "csv", "parquet"])
def test_another_truth_file_is_named_with_the_match_count(catalogue, tmp_path, suffix):
    # every format carries the input's fingerprint: CSV in its comment lines
    result = runner.invoke(
        app,
        [
            "evaluate",
            str(catalogue / f"cat.{suffix}"),
            "--truth",
            str(catalogue / "all.h5"),
            "-o",
            str(tmp_path / "b"),
        ],
    )
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert (
        "warning:" in text
        and "is not the file the catalogue was predicted from (part.h5)" in text
    )
    assert "40 of 40 found" in text
