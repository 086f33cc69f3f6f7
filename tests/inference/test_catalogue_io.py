"""Catalogue files: truncated or garbage files are one-line errors, no overwriting."""

import numpy as np
import pytest
from astropy.table import Table

from starlabel.errors import StarlabelInputError
from starlabel.inference.catalogue import read_catalogue_table, write_catalogue


def _table(n=5):
    return Table(
        {
            "id": [f"synth-s0-{i:07d}" for i in range(n)],
            "teff": np.linspace(4000.0, 6000.0, n),
            "teff_err": np.full(n, 55.5),
            "flag": np.zeros(n, dtype=np.int64),
        }
    )


@pytest.mark.parametrize("ext", ["csv", "fits", "parquet"])
def test_round_trip(tmp_path, ext):
    path = write_catalogue(_table(), tmp_path / f"c.{ext}")
    got = read_catalogue_table(path)
    assert got["id"].tolist() == _table()["id"].tolist()
    np.testing.assert_array_equal(np.asarray(got["teff"]), _table()["teff"])


def test_truncated_csv_is_refused_with_the_row(tmp_path):
    path = write_catalogue(_table(), tmp_path / "c.csv")
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    assert lines[0].startswith("# written by starlabel")  # the ownership marker
    lines = lines[1:]
    text = "".join(lines)
    assert len(lines) == 6 and text.endswith("\n")
    last = lines[-1]
    cut = tmp_path / "cut.csv"
    cut.write_text("".join(lines[:-1]) + last[: last.index(",") + 3])  # mid-row
    with pytest.raises(StarlabelInputError) as exc:
        read_catalogue_table(cut)
    msg = str(exc.value)
    assert msg.startswith(f"{cut}: star synth-s0-0000004: row 5 has 2 fields")
    assert "\n" not in msg
    # cut inside the last field: the field count is right, the line break is missing
    inside = tmp_path / "inside.csv"
    inside.write_text(text[:-2])
    with pytest.raises(
        StarlabelInputError, match=r"star synth-s0-0000004: row 5 is incomplete"
    ):
        read_catalogue_table(inside)
    # a row cut in the middle of the file (a broken copy)
    middle = tmp_path / "middle.csv"
    middle.write_text(
        "".join(lines[:3]) + lines[3].split(",")[0] + "\n" + "".join(lines[4:])
    )
    with pytest.raises(
        StarlabelInputError, match=r"star synth-s0-0000002: row 3 has 1 fields"
    ):
        read_catalogue_table(middle)


@pytest.mark.parametrize("ext", ["fits", "parquet", "csv"])
def test_garbage_files_are_one_line_errors(tmp_path, ext):
    junk = tmp_path / f"junk.{ext}"
    junk.write_bytes(bytes(range(256)) * 40)
    with pytest.raises(StarlabelInputError) as exc:
        read_catalogue_table(junk)
    assert str(exc.value).startswith(f"{junk}: ") and "\n" not in str(exc.value)
    empty = tmp_path / f"empty.{ext}"
    empty.write_bytes(b"")
    with pytest.raises(StarlabelInputError, match="empty file"):
        read_catalogue_table(empty)


@pytest.mark.parametrize("ext", ["fits", "parquet"])
def test_truncated_binary_catalogues_are_refused(tmp_path, ext):
    path = write_catalogue(_table(2000), tmp_path / f"c.{ext}")
    cut = tmp_path / f"cut.{ext}"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(StarlabelInputError) as exc:
        read_catalogue_table(cut)
    assert str(exc.value).startswith(f"{cut}: ") and "\n" not in str(exc.value)


def test_write_catalogue_never_overwrites_without_the_flag(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("mine\n")
    for flag in (False, True):  # a user's file is never replaced
        with pytest.raises(StarlabelInputError, match=r"c\.csv: exists and was not"):
            write_catalogue(_table(), path, overwrite=flag)
    assert path.read_text() == "mine\n"
    ours = tmp_path / "ours.csv"
    write_catalogue(_table()[:2], ours)
    with pytest.raises(StarlabelInputError, match=r"ours\.csv: exists .*--overwrite"):
        write_catalogue(_table(), ours)
    write_catalogue(_table(), ours, overwrite=True)
    assert len(read_catalogue_table(ours)) == 5
    (tmp_path / "d.fits").mkdir()
    with pytest.raises(StarlabelInputError, match="is a directory"):
        write_catalogue(_table(), tmp_path / "d.fits", overwrite=True)
