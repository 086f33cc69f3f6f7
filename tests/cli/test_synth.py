"""starlabel synth: ids carry the seed; stale temporaries of a killed run go."""

import os
import socket
import subprocess
import sys

from typer.testing import CliRunner

from starlabel.cli.main import app
from starlabel.spectra import read_dataset

runner = CliRunner()


def test_a_later_run_removes_what_a_killed_run_left(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".s.h5.{socket.gethostname()}-{dead.pid}.0badcafe.tmp"
    stale.write_bytes(b"x" * 1000)
    live = tmp_path / f".s.h5.{socket.gethostname()}-{os.getpid()}.0goodbee.tmp"
    live.write_bytes(b"y")
    result = runner.invoke(
        app,
        [
            "synth",
            "--n",
            "3",
            "--no-crlb",
            "--seed",
            "7",
            "-q",
            "-o",
            str(tmp_path / "s.h5"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert not stale.exists() and live.exists()
    assert read_dataset(tmp_path / "s.h5").ids[0].startswith("synth-s7-")
