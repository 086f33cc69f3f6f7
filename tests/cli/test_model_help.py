"""``train`` and ``tune`` describe their model options from the models (registry,
presets, ``flag_fields``), so the help cannot go stale; every model flag is an
option of ``train``."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from starlabel.cli.main import app
from starlabel.cli.model_help import flag_key
from starlabel.models import MODELS

from ..models.linear_toy import LinearRegressor

runner = CliRunner()


def _command(name: str):
    group = typer.main.get_command(app)
    return group.commands[name]


def _helps(name: str) -> dict[str, str]:
    """Each option's help as shown by ``NAME --help``, by flag name."""
    cmd = _command(name)
    with cmd.context_class(cmd, info_name=name) as ctx:  # typer's own click
        cmd.get_help(ctx)
    options = [p for p in cmd.params if p.param_type_name == "option"]
    return {flag_key(p): p.help or "" for p in options}


def test_every_flag_of_every_model_is_an_option_of_train():
    options = {flag_key(p) for p in _command("train").params}
    for kind, cls in MODELS.items():
        missing = set(cls.flag_fields) - options
        assert not missing, f"{kind}: {sorted(missing)} cannot be set by train"


def test_each_flag_names_the_models_that_take_it():
    helps = _helps("train")
    for flag in {f for cls in MODELS.values() for f in cls.flag_fields}:
        takes = [k for k, cls in MODELS.items() if flag in cls.flag_fields]
        assert helps[flag].startswith(", ".join(takes) + ": "), (flag, helps[flag])


@pytest.mark.parametrize("command", ["train", "tune"])
def test_model_and_preset_list_the_registry(command):
    helps = _helps(command)
    for kind, cls in MODELS.items():
        assert f"{kind}: {cls.title}" in helps["model"]
        for preset in cls.presets:
            assert preset in helps["preset"], (kind, preset)


def test_a_model_added_to_the_registry_appears_in_the_help(monkeypatch):
    monkeypatch.setitem(MODELS, "linear", LinearRegressor)
    helps = _helps("train")
    assert "linear: linear maps" in helps["model"]
    assert "linear: default (default)" in helps["preset"]
    assert helps["max_epochs"].startswith("cnn, cinn, gandalf, emulator, linear: ")


def test_hidden_sets_the_emulators_layers(tmp_path):
    from starlabel.spectra import write_dataset

    from ..models.gandalf_toy import toy_spectra

    write_dataset(toy_spectra(20, 0), tmp_path / "d.h5")
    args = ["train", str(tmp_path / "d.h5"), "--model", "emulator", "--print-config"]
    done = runner.invoke(app, [*args, "--hidden", "8", "--hidden", "4"])
    assert done.exit_code == 0, done.output
    assert "hidden = [8, 4]" in done.output
    done = runner.invoke(app, ["train", str(tmp_path / "d.h5"), "--model", "nope"])
    assert done.exit_code == 2
    assert "--model: choose from cnn, cinn, gandalf, emulator" in done.output
    assert "Traceback" not in done.output
