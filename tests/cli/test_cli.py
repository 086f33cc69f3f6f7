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
