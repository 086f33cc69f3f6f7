"""The minor bad-input items of issue 26 (split, train, explain, map, edit, report,
the lock of a folder catalogue): exit code 2, one line naming the file or option, no
traceback, nothing changed or half-written; and the warnings printed once each."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from starlabel.cli.main import app
from starlabel.errors import StarlabelInputError
from starlabel.inference import parts as parts_module
from starlabel.inference import predict_file
from starlabel.inference.parts import LOCK, PartStore
from starlabel.models import (
    CNNConfig,
    DeepEnsembleRegressor,
    EmulatorConfig,
    EnsembleConfig,
    GandalfConfig,
    LatentAutoencoder,
    SpectrumEmulator,
)
from starlabel.spectra import Spectra, read_dataset, write_dataset
from starlabel.training import TrainConfig

from ..models.gandalf_toy import toy_spectra

runner = CliRunner()
ONE_EPOCH = TrainConfig(max_epochs=1, optimizer="adam", lr=1e-3, batch_size=32)
TINY_CNN = EnsembleConfig(
    n_members=2,
    n_keep=2,
    cnn=CNNConfig(channels=(4,), kernel_size=5, pool=(4,), dense=(16,), dropout=0.0),
    train=ONE_EPOCH,
)
# one member: the run file `train --config` reads (the CLI cannot shrink the network)
ONE_MEMBER_TOML = """model = "cnn"
seed = 0

[config]
n_members = 1
n_keep = 1

[config.cnn]
channels = [4]
kernel_size = 5
pool = [4]
dense = [16]
dropout = 0.0

[config.train]
max_epochs = 1
batch_size = 32
"""


def _variant(sp: Spectra, *, ivar=None, labels=None) -> Spectra:
    return Spectra(
        sp.flux,
        sp.wavelength,
        sp.ivar if ivar is None else ivar,
        sp.labels if labels is None else labels,
        meta={"id": sp.ids},
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("minor")
    f = {"root": root}
    sp = toy_spectra(60, 0)
    f["data"] = root / "data.h5"
    write_dataset(sp, f["data"])
    f["masked"] = root / "masked.h5"
    write_dataset(_variant(sp, ivar=np.zeros_like(sp.ivar)), f["masked"])
    f["nan_labels"] = root / "nan_labels.h5"
    nan = {k: np.full(sp.n_spectra, np.nan) for k in sp.labels}
    write_dataset(_variant(sp, labels=nan), f["nan_labels"])
    f["empty"] = root / "empty.h5"
    write_dataset(sp[np.zeros(sp.n_spectra, bool)], f["empty"])
    f["stranger"] = root / "stranger.h5"
    write_dataset(toy_spectra(10, 99), f["stranger"])  # other ids
    f["twin"] = root / "twin.h5"
    write_dataset(toy_spectra(60, 0, sigma=0.02), f["twin"])  # same ids, other file
    f["one_member"] = root / "one.toml"
    f["one_member"].write_text(ONE_MEMBER_TOML)

    cnn = DeepEnsembleRegressor(TINY_CNN, device="cpu").fit(sp)
    f["model"] = cnn.save(root / "model")
    f["emulator"] = (
        SpectrumEmulator(EmulatorConfig(hidden=(8,), train=ONE_EPOCH, n_candidates=10))
        .fit(sp)
        .save(root / "emulator")
    )
    f["gandalf"] = (
        LatentAutoencoder(
            GandalfConfig(
                latent=2, encoder=(8,), decoder=(8,), regressor=(8,), max_epochs=1
            ),
            random_state=0,
        )
        .fit(sp)
        .save(root / "gandalf")
    )
    f["cat"] = root / "cat.csv"
    predict_file(cnn, f["data"], f["cat"])
    return f


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()
    }


def _lines(output: str) -> list[str]:
    return [line for line in output.strip().splitlines() if line.strip()]


# (name, argv builder, texts the one-line error must contain, path that must not exist)
CASES = [
    # ---------------------------------------------------------------- split
    (
        "split --fractions with a negative",
        lambda f: [
            "split",
            f["data"],
            "--fractions",
            "1.2",
            "-0.2",
            "0",
            "-o",
            f["root"] / "s1",
        ],
        ["--fractions", "-0.2 is negative"],
        "s1-train.h5",
    ),
    (
        "split --fractions nan",
        lambda f: [
            "split",
            f["data"],
            "--fractions",
            "nan",
            "0.5",
            "0.5",
            "-o",
            f["root"] / "s2",
        ],
        ["--fractions", "nan is not a finite number"],
        "s2-train.h5",
    ),
    (
        "split --fractions with four values",
        lambda f: [
            "split",
            f["data"],
            "--fractions",
            "0.4",
            "0.2",
            "0.2",
            "0.2",
            "-o",
            f["root"] / "s3",
        ],
        ["--fractions", "give 2", "got 4"],
        "s3-train.h5",
    ),
    (
        "split --fractions of two not summing to 1",
        lambda f: [
            "split",
            f["data"],
            "--fractions",
            "0.5",
            "0.3",
            "-o",
            f["root"] / "s4",
        ],
        ["--fractions", "must sum to 1"],
        "s4-train.h5",
    ),
    (
        "split --fractions without a validation part",
        lambda f: ["split", f["data"], "--fractions", "1", "0", "-o", f["root"] / "s5"],
        ["--fractions", "validation"],
        "s5-train.h5",
    ),
    # ---------------------------------------------------------------- train
    (
        "train on all-NaN labels",
        lambda f: [
            "train",
            f["nan_labels"],
            "--config",
            f["one_member"],
            "-q",
            "-o",
            f["root"] / "m1",
        ],
        ["nan_labels.h5", "no star has a value"],
        "m1",
    ),
    (
        "train on a dataset with every pixel masked",
        lambda f: [
            "train",
            f["masked"],
            "--config",
            f["one_member"],
            "-q",
            "-o",
            f["root"] / "m2",
        ],
        ["masked.h5", "every pixel", "masked"],
        "m2",
    ),
    (
        "train with a validation set whose every pixel is masked",
        lambda f: [
            "train",
            f["data"],
            "--valid",
            f["masked"],
            "--config",
            f["one_member"],
            "-q",
            "-o",
            f["root"] / "m3",
        ],
        ["masked.h5", "every pixel"],
        "m3",
    ),
    # --------------------------------------------------------------- explain
    (
        "explain --n-stars 0",
        lambda f: [
            "explain",
            f["model"],
            f["data"],
            "-o",
            f["root"] / "ex1",
            "--n-stars",
            "0",
        ],
        ["--n-stars", "got 0"],
        "ex1",
    ),
    (
        "explain with a negative --tolerance",
        lambda f: [
            "explain",
            f["model"],
            f["data"],
            "-o",
            f["root"] / "ex2",
            "--tolerance",
            "-0.5",
        ],
        ["--tolerance", "-0.5"],
        "ex2",
    ),
    (
        "explain --top 0",
        lambda f: [
            "explain",
            f["model"],
            f["data"],
            "-o",
            f["root"] / "ex3",
            "--top",
            "0",
        ],
        ["--top"],
        "ex3",
    ),
    (
        "explain an emulator",
        lambda f: ["explain", f["emulator"], f["data"], "-o", f["root"] / "ex4"],
        ["emulator", "not defined", "cnn, cinn or gandalf"],
        "ex4",
    ),
    (
        "explain spectra that are all masked",
        lambda f: ["explain", f["model"], f["masked"], "-o", f["root"] / "ex5"],
        ["masked.h5", "unmasked pixel"],
        "ex5",
    ),
    # ------------------------------------------------------------------- map
    (
        "map --perplexity -3",
        lambda f: ["map", f["data"], "-o", f["root"] / "map1", "--perplexity", "-3"],
        ["--perplexity", "-3"],
        "map1",
    ),
    (
        "map --n-components 0",
        lambda f: ["map", f["data"], "-o", f["root"] / "map2", "--n-components", "0"],
        ["--n-components", "got 0"],
        "map2",
    ),
    (
        "map --max-train below the minimum",
        lambda f: ["map", f["data"], "-o", f["root"] / "map3", "--max-train", "5"],
        ["--max-train", "at least 10"],
        "map3",
    ),
    (
        "map 0 spectra into it",
        lambda f: ["map", f["data"], f["empty"], "-o", f["root"] / "map4"],
        ["empty.h5", "0 spectra"],
        "map4",
    ),
    (
        "map 0 training spectra",
        lambda f: ["map", f["empty"], f["data"], "-o", f["root"] / "map5"],
        ["empty.h5", "0 training spectra"],
        "map5",
    ),
    # ------------------------------------------------------------------ edit
    (
        "edit an unknown --id",
        lambda f: [
            "edit",
            f["gandalf"],
            f["data"],
            "--id",
            "nobody",
            "--set",
            "logg=2",
            "-o",
            f["root"] / "e1.png",
        ],
        ["data.h5", "nobody", "not in the dataset"],
        "e1.png",
    ),
    (
        "edit --set to nan",
        lambda f: [
            "edit",
            f["gandalf"],
            f["data"],
            "--id",
            "g0-1",
            "--set",
            "logg=nan",
            "-o",
            f["root"] / "e2.png",
        ],
        ["--set", "logg", "finite"],
        "e2.png",
    ),
    (
        "edit --set to 1e30",
        lambda f: [
            "edit",
            f["gandalf"],
            f["data"],
            "--id",
            "g0-1",
            "--set",
            "logg=1e30",
            "-o",
            f["root"] / "e3.png",
        ],
        ["--set", "logg", "training range"],
        "e3.png",
    ),
    (
        "edit --set to inf",
        lambda f: [
            "edit",
            f["gandalf"],
            f["data"],
            "--id",
            "g0-1",
            "--set",
            "fe_h=-inf",
            "-o",
            f["root"] / "e4.png",
        ],
        ["fe_h", "finite"],
        "e4.png",
    ),
    # ---------------------------------------------------------------- report
    (
        "report with the truth of another survey",
        lambda f: [
            "report",
            f["cat"],
            "--truth",
            f["stranger"],
            "-o",
            f["root"] / "r1.html",
        ],
        ["stranger.h5", "cat.csv"],
        "r1.html",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_minor_bad_input_is_one_line_exit_2_and_leaves_everything(files, case):
    _, argv, needles, absent = case
    root = files["root"]
    before = _tree(root)
    result = runner.invoke(app, [str(a) for a in argv(files)])
    lines = _lines(result.output)
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert "Traceback" not in result.output
    assert _tree(root) == before  # nothing deleted, changed or half-written
    assert not (root / absent).exists()
    assert not [p for p in root.rglob(".*")]  # no stage or temporary left


def test_split_takes_two_fractions_before_an_option(files, tmp_path):
    result = runner.invoke(
        app,
        [
            "split",
            str(files["data"]),
            "--fractions",
            "0.7",
            "0.3",
            "-o",
            str(tmp_path / "x"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x-train.h5", "x-valid.h5"]
    assert len(read_dataset(tmp_path / "x-train.h5")) == 42


def _cli(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    """The real command line in a fresh interpreter: pytest's own log handlers hide
    what logging would print on stderr in a CliRunner."""
    return subprocess.run(
        [sys.executable, "-m", "starlabel.cli.main", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_train_prints_each_warning_once_and_true(files, tmp_path):
    done = _cli(
        "train",
        files["data"],
        "--config",
        files["one_member"],
        "-q",
        "-o",
        tmp_path / "m",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    warnings = _lines(done.stderr)
    assert len(warnings) == 2, done.stderr  # too few stars; one member
    assert all(w.startswith("warning:") for w in warnings), done.stderr
    one = [w for w in warnings if "1-member ensemble" in w]
    assert len(one) == 1 and "_err is NaN" not in one[0]
    assert "_err_raw" in one[0] and "calibration" in one[0]


def test_train_on_all_nan_labels_prints_the_error_and_no_warning(files, tmp_path):
    done = _cli(
        "train",
        files["nan_labels"],
        "--config",
        files["one_member"],
        "-q",
        "-o",
        tmp_path / "m",
        cwd=tmp_path,
    )
    assert done.returncode == 2
    lines = _lines(done.stderr)
    assert len(lines) == 1 and lines[0].startswith("error:"), done.stderr
    assert "nan_labels.h5" in lines[0]
    assert not (tmp_path / "m").exists()


def test_map_coloured_without_data_warns_nothing(files, tmp_path):
    # filterwarnings = error: matplotlib's "no artists with labels" would fail here
    result = runner.invoke(
        app,
        ["map", str(files["data"]), "-o", str(tmp_path / "map"), "--colour", "logg"],
    )
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output.lower()
    assert (tmp_path / "map" / "map.png").exists()


def test_report_with_another_truth_file_warns_once_naming_both(files, tmp_path):
    result = runner.invoke(
        app,
        [
            "report",
            str(files["cat"]),
            "--truth",
            str(files["twin"]),
            "-o",
            str(tmp_path / "r.html"),
        ],
    )
    assert result.exit_code == 0, result.output
    warnings = [w for w in _lines(result.output) if w.startswith("warning:")]
    assert len(warnings) == 1, result.output
    assert "cat.csv" in warnings[0] and "twin.h5" in warnings[0]
    assert "data.h5" in warnings[0]  # the file it was predicted from


# ------------------------------------------------------------------ the lock
def test_finished_folder_catalogue_keeps_no_lock(files, tmp_path):
    out = tmp_path / "cat"
    args = ["predict", str(files["model"]), str(files["data"]), "-q", "-o", f"{out}/"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert not (out / LOCK).exists()
    assert runner.invoke(app, args).exit_code == 0  # a rerun resumes (nothing to do)
    assert not (out / LOCK).exists()


def test_second_run_is_refused_while_the_first_holds_the_lock(tmp_path):
    root = tmp_path / "store"
    with PartStore(root, owner=tmp_path / "cat") as first:
        assert (root / LOCK).exists()
        with pytest.raises(StarlabelInputError, match="another starlabel run"):
            PartStore(root, owner=tmp_path / "cat").__enter__()
        assert first._lock_fh is not None
    assert not (root / LOCK).exists()
    with PartStore(root, owner=tmp_path / "cat"):  # free again
        assert (root / LOCK).exists()
    assert not (root / LOCK).exists()


def test_a_lock_won_on_a_removed_lock_file_is_taken_again(tmp_path, monkeypatch):
    # A finishing run removes the lock file it holds; a run that opened that file
    # just before wins a lock on a file no longer at the path, which would let a
    # third run in beside it. It must notice and lock the file now at the path.
    root = tmp_path / "store"
    root.mkdir()
    real_flock, calls = fcntl.flock, []

    def flock_then_finish(fh, op):
        real_flock(fh, op)
        calls.append(fh.name)
        if len(calls) == 1:  # the holder's exit removes the file right now
            os.unlink(root / LOCK)

    monkeypatch.setattr(parts_module.fcntl, "flock", flock_then_finish)
    with PartStore(root, owner=tmp_path / "cat") as store:
        assert len(calls) == 2
        at_path, held = os.stat(root / LOCK), os.fstat(store._lock_fh.fileno())
        assert (at_path.st_dev, at_path.st_ino) == (held.st_dev, held.st_ino)
    assert not (root / LOCK).exists()
