"""starlabel train: run files, overwriting, warnings; starlabel info on every kind."""

import tomllib

import pytest
from typer.testing import CliRunner

from starlabel.cli.main import app
from starlabel.models import load
from starlabel.spectra import write_dataset

from ..conftest import gaussian_line_spectra

runner = CliRunner()
TINY = ["--max-epochs", "1", "-q"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = tmp_path_factory.mktemp("train") / "d.h5"
    write_dataset(gaussian_line_spectra(n=80, n_pixels=512, seed=1), path)
    return path


def _run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_print_config_then_config_reproduces_the_run(data, tmp_path):
    printed = _run(
        "train",
        data,
        "--model",
        "cnn",
        "--preset",
        "fast",
        "--ensemble",
        "2",
        "--labels",
        "teff",
        "fe_h",
        "--max-epochs",
        "1",
        "--seed",
        "4",
        "--print-config",
    )
    assert printed.exit_code == 0, printed.output
    run = tomllib.loads(printed.output)
    assert (
        run["model"] == "cnn" and run["labels"] == ["teff", "fe_h"] and run["seed"] == 4
    )
    assert run["config"]["n_members"] == 2 and run["config"]["train"]["max_epochs"] == 1
    file = tmp_path / "run.toml"
    file.write_text(printed.output)
    result = _run("train", data, "--config", file, "-q", "-o", tmp_path / "m")
    assert result.exit_code == 0, result.output
    assert tomllib.loads((tmp_path / "m" / "config.toml").read_text()) == run
    model = load(tmp_path / "m")
    assert model.random_state == 4 and len(model.members_) == 2
    # a flag on the line overrides the file
    again = _run("train", data, "--config", file, "--max-epochs", "2", "--print-config")
    assert tomllib.loads(again.output)["config"]["train"]["max_epochs"] == 2


def test_overwrite_replaces_only_an_earlier_model(data, tmp_path):
    out = tmp_path / "m"
    assert (
        _run(
            "train", data, "--preset", "fast", "--ensemble", "2", *TINY, "-o", out
        ).exit_code
        == 0
    )
    first = (out / "model.json").read_text()
    refused = _run(
        "train", data, "--preset", "fast", "--ensemble", "2", *TINY, "-o", out
    )
    assert refused.exit_code == 2 and "--overwrite" in refused.output
    assert (out / "model.json").read_text() == first
    result = _run(
        "train",
        data,
        "--preset",
        "fast",
        "--ensemble",
        "2",
        "--seed",
        "1",
        *TINY,
        "--overwrite",
        "-o",
        out,
    )
    assert result.exit_code == 0, result.output
    assert load(out).random_state == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no temporaries left


def test_tiny_sets_and_single_members_warn_in_one_line(tmp_path):
    path = tmp_path / "two.h5"
    write_dataset(gaussian_line_spectra(n=2, n_pixels=512, seed=2), path)
    result = _run(
        "train",
        path,
        "--preset",
        "fast",
        "--ensemble",
        "1",
        *TINY,
        "-o",
        tmp_path / "m",
    )
    assert result.exit_code == 0, result.output
    warnings = [ln for ln in result.output.splitlines() if ln.startswith("warning:")]
    assert any("1 training and 1 validation" in w for w in warnings), result.output
    assert any("1-member ensemble" in w for w in warnings), result.output
    predicted = _run("predict", tmp_path / "m", path, "-q", "-o", tmp_path / "c.csv")
    assert predicted.exit_code == 0 and "no uncertainty" in predicted.output


@pytest.mark.parametrize(
    "kind, extra, loss",
    [
        ("cnn", ["--preset", "fast", "--ensemble", "2"], "standardised MSE"),
        ("cinn", ["--preset", "fast"], "negative log-likelihood"),
        (
            "gandalf",
            ["--preset", "fast", "--latent", "3", "--disentangle", "teff"],
            "reconstruction MSE",
        ),
    ],
)
def test_info_describes_every_kind_of_model(data, tmp_path, kind, extra, loss):
    out = tmp_path / kind
    result = _run("train", data, "--model", kind, *extra, *TINY, "-o", out)
    assert result.exit_code == 0, result.output
    info = _run("info", out)
    assert info.exit_code == 0, info.output
    text = " ".join(info.output.split())
    assert kind in text and loss in text and "trained on" in text
