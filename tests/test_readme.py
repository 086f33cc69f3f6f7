"""The README documents what the code does."""

import re
from pathlib import Path

from starlabel.spectra import Flag
from starlabel.spectra.io.registry import READERS, _load_builtin_readers

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_flag_table_matches_the_enum():
    rows = re.findall(
        r"^\| (\d+) \| (\d+) \| `(\w+)` \| (.+?) \|$", README, re.MULTILINE
    )
    assert [(int(v), n) for _, v, n, _ in rows] == [(f.value, f.name) for f in Flag]
    for bit, value, _, _ in rows:
        assert 1 << int(bit) == int(value)


def test_every_reader_is_documented():
    _load_builtin_readers()
    for name in READERS:
        assert f"| `{name}` |" in README, name


def test_the_two_commands_are_there():
    assert "make demo" in README and "make test" in README
