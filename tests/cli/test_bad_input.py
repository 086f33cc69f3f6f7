"""Bad input across commands: exit code 2, one line naming the file (and the star),
no traceback, nothing partial written, nothing that was there deleted."""

from __future__ import annotations

from pathlib import Path

import h5py
import pytest
from typer.testing import CliRunner

from starlabel.cli.main import app
from starlabel.inference import predict_file
from starlabel.models import CNNConfig, DeepEnsembleRegressor, EnsembleConfig
from starlabel.spectra import Spectra, write_dataset
from starlabel.training import TrainConfig

from ..models.gandalf_toy import toy_spectra

runner = CliRunner()
TINY = EnsembleConfig(
    n_members=2,
    n_keep=2,
    cnn=CNNConfig(channels=(4,), kernel_size=5, pool=(4,), dense=(16,), dropout=0.0),
    train=TrainConfig(max_epochs=1, optimizer="adam", lr=1e-3, batch_size=32),
)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bad")
    f = {"root": root}
    f["data"] = root / "data.h5"
    write_dataset(toy_spectra(60, 0), f["data"])
    f["one"] = root / "one.h5"
    write_dataset(toy_spectra(1, 3), f["one"])
    sp = toy_spectra(10, 4)
    f["other_grid"] = root / "other.h5"
    write_dataset(
        Spectra(
            sp.flux[:, :40],
            sp.wavelength[:40],
            sp.ivar[:, :40],
            sp.labels,
            meta={"id": sp.ids},
        ),
        f["other_grid"],
    )
    f["subgroup"] = root / "subgroup.h5"
    write_dataset(toy_spectra(10, 5), f["subgroup"])
    with h5py.File(f["subgroup"], "a") as h5:
        h5["labels"].create_group("nested")
    model = DeepEnsembleRegressor(TINY, labels=["logg", "fe_h"], device="cpu")
    f["model"] = model.fit(toy_spectra(60, 0)).save(root / "model")
    f["cat"] = root / "cat.csv"
    predict_file(model, f["data"], f["cat"])
    f["truncated"] = root / "truncated.csv"
    text = f["cat"].read_text()
    f["truncated"].write_text(text[: len(text) - 25])
    f["stranger"] = root / "stranger.h5"
    write_dataset(toy_spectra(10, 99), f["stranger"])  # other ids
    f["garbage"] = root / "garbage.bin"
    f["garbage"].write_bytes(b"\x00not a file of ours" * 10)
    f["run_cinn"] = root / "run.toml"
    f["run_cinn"].write_text('model = "cinn"\nseed = 1\n')
    f["bad_toml"] = root / "bad.toml"
    f["bad_toml"].write_text("model = = cnn\n")
    return f


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()
    }


# (name, argv builder, text the one-line error must contain, path that must not exist)
CASES = [
    (
        "train into a project folder",
        lambda f: ["train", f["data"], "-o", f["root"]],
        "not a model directory",
        None,
    ),
    (
        "train over a model without --overwrite",
        lambda f: ["train", f["data"], "-o", f["model"]],
        "--overwrite",
        None,
    ),
    (
        "train a cnn on one spectrum",
        lambda f: ["train", f["one"], "-q", "-o", f["root"] / "m1"],
        "at least 2",
        "m1",
    ),
    (
        "gandalf ignores no --patience",
        lambda f: [
            "train",
            f["data"],
            "--model",
            "gandalf",
            "--patience",
            "3",
            "-o",
            f["root"] / "m2",
        ],
        "--patience: not an option of --model gandalf",
        "m2",
    ),
    (
        "gandalf ignores no --optimizer",
        lambda f: [
            "train",
            f["data"],
            "--model",
            "gandalf",
            "--optimizer",
            "sgd",
            "-o",
            f["root"] / "m3",
        ],
        "--optimizer",
        "m3",
    ),
    (
        "cinn has no --keep",
        lambda f: [
            "train",
            f["data"],
            "--model",
            "cinn",
            "--keep",
            "2",
            "-o",
            f["root"] / "m4",
        ],
        "--keep: not an option of --model cinn",
        "m4",
    ),
    (
        "unknown preset",
        lambda f: ["train", f["data"], "--preset", "nope", "-o", f["root"] / "m5"],
        "--preset",
        "m5",
    ),
    (
        "run file not TOML",
        lambda f: [
            "train",
            f["data"],
            "--config",
            f["bad_toml"],
            "-o",
            f["root"] / "m6",
        ],
        "bad.toml",
        "m6",
    ),
    (
        "run file for another model",
        lambda f: [
            "train",
            f["data"],
            "--model",
            "cnn",
            "--config",
            f["run_cinn"],
            "-o",
            f["root"] / "m7",
        ],
        "--model cinn",
        "m7",
    ),
    (
        "unknown label",
        lambda f: ["train", f["data"], "--labels", "teff", "-o", f["root"] / "m8"],
        "teff",
        "m8",
    ),
    (
        "missing training file",
        lambda f: ["train", f["root"] / "nope.h5", "-o", f["root"] / "m9"],
        "nope.h5",
        "m9",
    ),
    (
        "prepare into a directory",
        lambda f: ["prepare", f["data"], "-o", f["root"]],
        "is a directory",
        None,
    ),
    (
        "prepare to .csv",
        lambda f: ["prepare", f["data"], "-o", f["root"] / "x.csv"],
        ".h5",
        "x.csv",
    ),
    (
        "synth into a directory",
        lambda f: ["synth", "--n", "2", "-o", f["root"]],
        "is a directory",
        None,
    ),
    (
        "synth to .csv",
        lambda f: ["synth", "--n", "2", "-o", f["root"] / "s.csv"],
        ".h5",
        "s.csv",
    ),
    (
        "synth over a dataset",
        lambda f: ["synth", "--n", "2", "-o", f["data"]],
        "--overwrite",
        None,
    ),
    (
        # a folder output is a catalogue of parts; one holding the user's files is refused
        "predict into a folder of other files",
        lambda f: ["predict", f["model"], f["data"], "-o", f["root"]],
        "did not write",
        None,
    ),
    (
        "predict to .txt",
        lambda f: ["predict", f["model"], f["data"], "-o", f["root"] / "c.txt"],
        ".fits",
        "c.txt",
    ),
    (
        "predict over a catalogue",
        lambda f: ["predict", f["model"], f["data"], "-o", f["cat"]],
        "--overwrite",
        None,
    ),
    (
        "predict with a garbage map",
        lambda f: [
            "predict",
            f["model"],
            f["data"],
            "--map",
            f["garbage"],
            "-o",
            f["root"] / "c1.fits",
        ],
        "garbage.bin",
        "c1.fits",
    ),
    (
        "cnn has no --mode",
        lambda f: [
            "predict",
            f["model"],
            f["data"],
            "--mode",
            "precision",
            "-o",
            f["root"] / "c2.fits",
        ],
        "--mode: not an option of cnn",
        "c2.fits",
    ),
    (
        "cnn has no --seed",
        lambda f: [
            "predict",
            f["model"],
            f["data"],
            "--seed",
            "3",
            "-o",
            f["root"] / "c3.fits",
        ],
        "--seed",
        "c3.fits",
    ),
    (
        "a group inside /labels",
        lambda f: ["predict", f["model"], f["subgroup"], "-o", f["root"] / "c4.fits"],
        "subgroup.h5",
        "c4.fits",
    ),
    (
        "not a model directory",
        lambda f: ["predict", f["root"], f["data"], "-o", f["root"] / "c5.fits"],
        "model.json",
        "c5.fits",
    ),
    (
        "data on another grid",
        lambda f: ["predict", f["model"], f["other_grid"], "-o", f["root"] / "c6.fits"],
        "other.h5",
        "c6.fits",
    ),
    (
        "truncated catalogue",
        lambda f: [
            "evaluate",
            f["truncated"],
            "--truth",
            f["data"],
            "-o",
            f["root"] / "ev1",
        ],
        "truncated.csv",
        "ev1",
    ),
    (
        "truth of another run",
        lambda f: [
            "evaluate",
            f["cat"],
            "--truth",
            f["stranger"],
            "-o",
            f["root"] / "ev2",
        ],
        "stranger.h5",
        "ev2",
    ),
    (
        "split with a blocked part",
        lambda f: ["split", f["data"], "-o", f["root"] / "blocked"],
        "blocked-valid.h5",
        "blocked-train.h5",
    ),
    (
        "map data on another grid",
        lambda f: ["map", f["data"], f["other_grid"], "-o", f["root"] / "map1"],
        "other.h5",
        "map1/map.safetensors",
    ),
    (
        "edit with a cnn",
        lambda f: [
            "edit",
            f["model"],
            f["data"],
            "--id",
            "g0-1",
            "--set",
            "logg=2",
            "-o",
            f["root"] / "e1.png",
        ],
        "gandalf",
        "e1.png",
    ),
    (
        "edit --set without =",
        lambda f: [
            "edit",
            f["model"],
            f["data"],
            "--id",
            "g0-1",
            "--set",
            "logg:2",
            "-o",
            f["root"] / "e2.png",
        ],
        "NAME=VALUE",
        "e2.png",
    ),
    (
        "evaluate into a folder with files",
        lambda f: [
            "evaluate",
            f["cat"],
            "--truth",
            f["data"],
            "-o",
            f["root"] / "plain",
        ],
        "--overwrite",
        "plain/metrics.csv",
    ),
    (
        "explain into a folder with files",
        lambda f: [
            "explain",
            f["model"],
            f["data"],
            "-o",
            f["root"] / "plain",
            "--n-stars",
            "3",
        ],
        "--overwrite",
        "plain/saliency.csv",
    ),
    ("info on garbage", lambda f: ["info", f["garbage"]], "garbage.bin", None),
    ("info on a plain folder", lambda f: ["info", f["root"] / "plain"], "plain", None),
    (
        "report over a file",
        lambda f: ["report", f["cat"], "--truth", f["data"], "-o", f["data"]],
        "must end in .html",
        None,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_leaves_everything(files, case):
    _, argv, needle, absent = case
    root = files["root"]
    (root / "blocked-valid.h5").mkdir(exist_ok=True)
    (root / "plain").mkdir(exist_ok=True)
    (root / "plain" / "notes.txt").write_text("mine")
    before = _tree(root)
    result = runner.invoke(app, [str(a) for a in argv(files)])
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    assert needle in lines[0], lines[0]
    assert "Traceback" not in result.output
    assert _tree(root) == before  # nothing deleted, changed or half-written
    if absent is not None:
        assert not (root / absent).exists()
    assert not [p for p in root.rglob(".*") if p.name != ".starlabel-demo"]


def test_there_are_at_least_30_cases():
    assert len(CASES) >= 30
