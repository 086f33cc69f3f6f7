"""The command list: every command of ARCHITECTURE.md is there."""

import re

from typer.testing import CliRunner

from starlabel.cli.main import app

runner = CliRunner()
ARCHITECTURE_COMMANDS = [
    "demo",
    "synth",
    "prepare",
    "info",
    "split",
    "train",
    "predict",
    "evaluate",
    "explain",
    "map",
    "edit",
    "report",
]


def test_help_lists_every_command():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in ARCHITECTURE_COMMANDS:
        assert re.search(rf"^\W*{name}\s", result.output, re.MULTILINE), name


def test_brackets_in_messages_and_help_are_kept(tmp_path):
    """Rich markup must not eat '[...]': file names, `pip install 'starlabel[dask]'`."""
    missing = tmp_path / "run[1].h5"
    result = runner.invoke(app, ["info", str(missing)])
    assert result.exit_code == 2 and f"{missing}: no such file" in result.output
    help_text = runner.invoke(app, ["predict", "--help"]).output
    assert "starlabel[dask]" in " ".join(help_text.split())
