"""``starlabel tune``: a study in a database, continued by a rerun, shared by two
processes; best.toml trains the best trial's configuration; pruning stops trials."""

from __future__ import annotations

import csv
import os
import subprocess
import tomllib

import pytest
from typer.testing import CliRunner

from starlabel.cli.main import app
from starlabel.models import build_estimator, read_run_config
from starlabel.models.space import (
    Choice,
    FloatRange,
    IntRange,
    base_values,
    draw_config,
)
from starlabel.spectra import write_dataset

from ..conftest import cli_process, gaussian_line_spectra

pytest.importorskip("optuna")
runner = CliRunner()

# a small, always-buildable CNN space for 128-pixel spectra
SPACE = """only = true
[space]
"cnn.channels" = {low = 2, high = 8}
"cnn.dense" = {low = 4, high = 32, log = true}
"train.lr" = {low = 1e-4, high = 1e-2, log = true}
"""
BASE = 'model = "cnn"\n[config]\nn_members = 3\nn_keep = 2\n[config.cnn]\nchannels = [4, 4]\nkernel_size = 5\npool = [2, 2]\ndense = [16]\ndropout = 0.0\n[config.train]\nmax_epochs = 4\npatience = 10\noptimizer = "adam"\nbatch_size = 32\n'


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    root = tmp_path_factory.mktemp("tune")
    train = gaussian_line_spectra(n=160, n_pixels=128, seed=1)
    valid = gaussian_line_spectra(n=60, n_pixels=128, seed=2)
    valid = valid.replace(meta={**valid.meta, "id": [f"v{i}" for i in range(60)]})
    write_dataset(train, root / "train.h5")
    write_dataset(valid, root / "valid.h5")
    (root / "space.toml").write_text(SPACE)
    (root / "base.toml").write_text(BASE)
    return root


def _args(root, out, *more):
    return [
        "tune",
        str(root / "train.h5"),
        "--valid",
        str(root / "valid.h5"),
        "--config",
        str(root / "base.toml"),
        "--space",
        str(root / "space.toml"),
        "-o",
        str(out),
        *map(str, more),
    ]


def _trials(out):
    with open(out / "trials.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_four_trials_then_a_rerun_continues_the_study(survey, tmp_path):
    out = tmp_path / "tune"
    r = runner.invoke(app, _args(survey, out, "--trials", 4))
    assert r.exit_code == 0, r.output
    assert (out / "study.db").stat().st_size > 0
    first = _trials(out)
    assert len(first) == 4 and {t["state"] for t in first} <= {"COMPLETE", "PRUNED"}
    assert "trial 3:" in r.output and "best" in r.output
    # trial 0 is the base configuration (base.toml's channels and dense, its lr)
    base_lr = build_estimator(run=read_run_config(survey / "base.toml")).config.train.lr
    assert (
        first[0]["params_cnn.channels.0"],
        first[0]["params_cnn.channels.1"],
        first[0]["params_cnn.dense.0"],
        float(first[0]["params_train.lr"]),
    ) == ("4", "4", "16", base_lr)
    assert first[0]["base"] == "True" and not any(t["base"] for t in first[1:])
    assert "base configuration: trial 0" in (out / "summary.txt").read_text()
    for png in ("history.png", "importances.png", "parallel.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    # the same command reaches 4 already: nothing runs; a larger target adds trials
    again = runner.invoke(app, _args(survey, out, "--trials", 4))
    assert again.exit_code == 0 and len(_trials(out)) == 4
    more = runner.invoke(app, _args(survey, out, "--trials", 6))
    assert more.exit_code == 0, more.output
    rows = _trials(out)
    assert len(rows) == 6 and [r["number"] for r in rows[:4]] == [
        t["number"] for t in first
    ]
    assert rows[:4] == first  # the first trials are the same records
    # the report's section: the plots and the best trials, best first
    from starlabel.diagnostics.report_outputs import tune_section

    section = tune_section(out)
    best = min(
        (r for r in rows if r["state"] == "COMPLETE"), key=lambda r: float(r["value"])
    )
    assert len(section.images) == 3
    first_cell = section.html.split("<td>", 1)[1].split("</td>", 1)[0]
    assert first_cell == best["number"]


def test_best_toml_trains_the_best_trials_configuration(survey, tmp_path):
    out = tmp_path / "tune"
    r = runner.invoke(app, _args(survey, out, "--trials", 3))
    assert r.exit_code == 0, r.output
    rows = [t for t in _trials(out) if t["state"] == "COMPLETE"]
    best = min(rows, key=lambda t: float(t["value"]))
    run = read_run_config(out / "best.toml")
    est = build_estimator(run=run)
    cfg = est.config
    assert list(cfg.cnn.channels) == [
        int(best["params_cnn.channels.0"]),
        int(best["params_cnn.channels.1"]),
    ]
    assert cfg.cnn.dense == (int(best["params_cnn.dense.0"]),)
    assert cfg.train.lr == pytest.approx(float(best["params_train.lr"]), rel=1e-12)
    # what the search did not draw is the base's; the ensemble is the base's again
    assert cfg.cnn.kernel_size == 5 and cfg.train.max_epochs == 4
    assert (cfg.n_members, cfg.n_keep) == (3, 2)
    # and `train --config best.toml` runs it
    model_dir = tmp_path / "model"
    t = runner.invoke(
        app,
        [
            "train",
            str(survey / "train.h5"),
            "--config",
            str(out / "best.toml"),
            "-o",
            str(model_dir),
            "-q",
        ],
    )
    assert t.exit_code == 0, t.output
    written = tomllib.loads((model_dir / "config.toml").read_text())
    assert written["config"]["cnn"]["channels"] == list(cfg.cnn.channels)
    assert written["config"]["train"]["lr"] == cfg.train.lr


def test_two_processes_on_one_sqlite_file_both_contribute(survey, tmp_path):
    db = f"sqlite:///{tmp_path / 'shared.db'}"
    procs = [
        subprocess.Popen(
            cli_process(
                *_args(
                    survey, tmp_path / f"out{i}", "--trials", 6, "--storage", db, "-q"
                )
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    results = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err
    rows = _trials(tmp_path / "out1")
    finished = [r for r in rows if r["state"] in ("COMPLETE", "PRUNED")]
    assert 6 <= len(finished) <= 7  # the target, give or take the trial in flight
    workers = {r["worker"].rsplit(":", 1)[1] for r in finished}
    assert workers == {str(p.pid) for p in procs}
    assert len({r["number"] for r in rows}) == len(rows)


def test_a_trial_over_its_time_limit_is_pruned(survey, tmp_path):
    """--trial-timeout 0: every trial is stopped before its first mini-batch,
    recorded as pruned with the reason, and no best configuration exists."""
    from starlabel.errors import StarlabelInputError
    from starlabel.tuning import tune

    with pytest.raises(StarlabelInputError, match="no trial completed yet"):
        tune(
            survey / "train.h5",
            survey / "valid.h5",
            tmp_path / "t",
            run=read_run_config(survey / "base.toml"),
            space_file=survey / "space.toml",
            trials=2,
            trial_timeout=0.0,
        )
    rows = _trials(tmp_path / "t")
    assert [r["state"] for r in rows] == ["PRUNED", "PRUNED"]
    assert all("over --trial-timeout 0 s" in r["error"] for r in rows)
    assert all(int(float(r["epochs"])) == 0 for r in rows)
    assert not (tmp_path / "t" / "best.toml").exists()


def test_a_bad_trial_is_pruned_before_its_last_epoch(survey, tmp_path):
    """Learning rates of 1e-7 (learns nothing) or 1e-2 (learns): once four trials are
    in, a 1e-7 trial is worse than the median at its 4th epoch and stopped."""
    from starlabel.tuning import tune

    space = tmp_path / "lr.toml"
    space.write_text('only = true\n[space]\n"train.lr" = {choices = [1e-7, 1e-2]}\n')
    result = tune(
        survey / "train.h5",
        survey / "valid.h5",
        tmp_path / "t",
        run=read_run_config(survey / "base.toml"),
        space_file=space,
        trials=10,
        sampler_seed=3,
        max_epochs=12,
    )
    rows = _trials(tmp_path / "t")
    pruned = [r for r in rows if r["state"] == "PRUNED"]
    complete = [r for r in rows if r["state"] == "COMPLETE"]
    assert pruned, rows
    assert all(float(r["params_train.lr"]) == 1e-7 for r in pruned)
    assert all(int(float(r["epochs"])) < 12 for r in pruned)
    assert max(int(float(r["epochs"])) for r in complete) == 12
    assert result.n_pruned == len(pruned) and result.pruned_epochs_saved > 0
    assert float(result.best_params["train.lr"]) == 1e-2


@pytest.mark.parametrize(
    "extra, message",
    [
        (
            ["--space", "{bad_space}"],
            "'cnn.widths' is not a field of this model's config",
        ),
        (
            ["--storage", "nosuchdb://nowhere/x"],
            "--storage 'nosuchdb://nowhere/x': cannot open it",
        ),
    ],
)
def test_bad_input_is_one_line(survey, tmp_path, extra, message):
    bad = tmp_path / "bad.toml"
    bad.write_text('[space]\n"cnn.widths" = {low = 1, high = 4}\n')
    args = [a.replace("{bad_space}", str(bad)) for a in extra]
    out = tmp_path / "tune"
    r = runner.invoke(app, [*_args(survey, out, "--trials", 1), *args])
    assert r.exit_code == 2, r.output
    assert message in r.output and "Traceback" not in r.output
    assert not out.exists()  # refused before anything was written


def test_a_study_made_for_another_model_is_refused(survey, tmp_path):
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    first = runner.invoke(
        app,
        _args(survey, tmp_path / "a", "--trials", 1, "--storage", db, "--study", "s"),
    )
    assert first.exit_code == 0, first.output
    r = runner.invoke(
        app,
        [
            "tune",
            str(survey / "train.h5"),
            "--valid",
            str(survey / "valid.h5"),
            "--model",
            "gandalf",
            "--storage",
            db,
            "--study",
            "s",
            "-o",
            str(tmp_path / "b"),
        ],
    )
    assert r.exit_code == 2, r.output
    assert "study 's'" in r.output and "made for --model cnn" in r.output


def test_draw_config_against_a_hand_written_one():
    base = {"cnn": {"channels": [8, 6], "kernel_size": 20}, "train": {"lr": 1e-3}}
    space = {
        "cnn.channels": IntRange(2, 16),
        "train.lr": FloatRange(1e-4, 1e-2, log=True),
        "cnn.kernel_size": Choice((5, 9)),
    }
    drawn = {}

    def draw(name, param):
        value = {
            "cnn.channels.0": 3,
            "cnn.channels.1": 4,
            "train.lr": 0.002,
            "cnn.kernel_size": 9,
        }[name]
        drawn[name] = param
        return value

    got = draw_config(base, space, draw)
    assert got == {
        "cnn": {"channels": [3, 4], "kernel_size": 9},
        "train": {"lr": 0.002},
    }
    assert base["cnn"]["channels"] == [8, 6]  # the base is not changed
    assert drawn["cnn.channels.1"] == IntRange(2, 16)
    # the base as a point of the space; outside a range or a choice: none
    assert base_values(base, space) is None  # kernel 20 is not a choice
    space["cnn.kernel_size"] = Choice((5, 20))
    assert base_values(base, space) == {
        "cnn.channels.0": 8,
        "cnn.channels.1": 6,
        "train.lr": 1e-3,
        "cnn.kernel_size": 20,
    }
    assert base_values(base, {"cnn.channels": IntRange(7, 16)}) is None  # 6 < 7
    assert base_values(base, {"cnn.kernel_size": Choice((20.0,))}) is None  # float


def test_a_folder_of_other_files_is_not_written_into(survey, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep")
    r = runner.invoke(app, _args(survey, out, "--trials", 1))
    assert r.exit_code == 2 and "--overwrite" in r.output
    assert sorted(os.listdir(out)) == ["notes.txt"]


@pytest.mark.parametrize("kind", ["cnn", "cinn", "gandalf", "emulator"])
def test_every_declared_space_names_real_fields_and_builds(kind):
    """Each model's search space, at its low and its high ends, is a valid config."""
    from starlabel.models.registry import model_class
    from starlabel.models.space import Choice

    cls = model_class(kind)
    base = cls.configure().to_dict() | dict(cls.search_fixed)
    for end in ("low", "high"):

        def draw(name, p, end=end):
            if isinstance(p, Choice):
                return p.values[0 if end == "low" else -1]
            return getattr(p, end)

        config = cls.config_class.from_dict(draw_config(base, cls.search_space, draw))
        assert config.to_dict() != base or not cls.search_space


def test_a_trial_whose_process_died_says_so_in_the_csv(tmp_path):
    import optuna

    from starlabel.tuning.summary import STOPPED, write_trials

    study = optuna.create_study()
    done = study.ask()
    study.tell(done, 1.0)
    reasoned = study.ask()
    reasoned.set_user_attr("error", "too deep for 128 pixels")
    study.tell(reasoned, state=optuna.trial.TrialState.FAIL)
    died = study.ask()  # what the heartbeat leaves of a killed process's trial
    study.tell(died, state=optuna.trial.TrialState.FAIL)
    write_trials(study, tmp_path / "trials.csv")
    rows = {int(r["number"]): r for r in _trials(tmp_path)}
    assert [rows[i]["state"] for i in range(3)] == ["COMPLETE", "FAIL", "FAIL"]
    assert rows[0]["error"] == ""
    assert rows[1]["error"] == "too deep for 128 pixels"
    assert rows[2]["error"] == STOPPED
