"""Ownership markers (starlabel._owned) and staged folders (starlabel._staging)."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from astropy.table import Table

from starlabel import _staging
from starlabel._owned import FOLDER_MARKER, folder_files, is_ours, write_folder_marker
from starlabel._staging import staged_dir
from starlabel.diagnostics.plots._save import save_png
from starlabel.diagnostics.report_html import html_page
from starlabel.inference.catalogue import read_catalogue_table, write_catalogue
from starlabel.spectra import write_dataset

from .conftest import gaussian_line_spectra


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1, 1))
    ax.plot([0, 1])
    return fig, plt


@pytest.mark.parametrize("suffix", [".fits", ".csv", ".parquet"])
def test_our_catalogues_carry_the_marker_and_their_metadata(tmp_path, suffix):
    table = Table({"id": ["a", "b"], "teff": [5000.0, 6000.0]})
    table.meta["SLINFP"] = "sha256:abc"
    path = write_catalogue(table, tmp_path / f"c{suffix}")
    assert is_ours(path)
    back = read_catalogue_table(path)
    assert back["teff"].tolist() == [5000.0, 6000.0]
    assert back.meta.get("SLINFP") == "sha256:abc"  # CSV too: in comment lines


def test_our_dataset_png_and_html_carry_the_marker(tmp_path):
    write_dataset(gaussian_line_spectra(4, 16), tmp_path / "d.h5")
    assert is_ours(tmp_path / "d.h5")
    fig, plt = _figure()
    save_png(fig, tmp_path / "f.png")
    plt.close(fig)
    assert is_ours(tmp_path / "f.png")
    (tmp_path / "r.html").write_text(html_page("t", []))
    assert is_ours(tmp_path / "r.html")


def test_files_of_others_are_not_ours(tmp_path):
    with h5py.File(tmp_path / "x.h5", "w") as h5:
        h5["a"] = np.arange(3)
    Table({"a": [1]}).write(tmp_path / "x.fits")
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"a": [1]}), tmp_path / "x.parquet")
    fig, plt = _figure()
    fig.savefig(tmp_path / "x.png")
    plt.close(fig)
    (tmp_path / "x.json").write_text(json.dumps({"format": "other"}))
    (tmp_path / "x.csv").write_text("# my comment about starlabel\nid\na\n")
    (tmp_path / "x.html").write_text("<html>starlabel</html>")
    (tmp_path / "empty.h5").write_bytes(b"")
    (tmp_path / "garbage.bin").write_bytes(bytes(range(256)) * 4)
    for p in tmp_path.iterdir():
        assert not is_ours(p), p.name
    assert not is_ours(tmp_path)  # a folder without a marker


def test_a_folder_marker_lists_the_files_it_covers(tmp_path):
    (tmp_path / "a.csv").write_text("x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.png").write_bytes(b"x")
    write_folder_marker(tmp_path, "evaluate")
    assert is_ours(tmp_path)
    assert folder_files(tmp_path) == {"a.csv", "sub/b.png", FOLDER_MARKER}


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
def test_a_staged_folder_replaces_an_old_one_whole(tmp_path, monkeypatch, exchange):
    if not exchange:
        monkeypatch.setattr(_staging, "_exchange", lambda a, b: False)
    out = tmp_path / "out"
    with staged_dir(out, command="evaluate") as stage:
        (stage / "old.csv").write_text("old")
    assert folder_files(out) == {"old.csv", FOLDER_MARKER}
    with staged_dir(out, command="evaluate") as stage:
        assert not (stage / "old.csv").exists()  # a new folder, not the old one
        (stage / "new.csv").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == [FOLDER_MARKER, "new.csv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # old one removed


def test_a_failing_stage_leaves_the_old_folder_and_no_temporary(tmp_path):
    out = tmp_path / "out"
    with staged_dir(out, command="map") as stage:
        (stage / "a.txt").write_text("a")
    with pytest.raises(RuntimeError), staged_dir(out, command="map") as stage:
        (stage / "b.txt").write_text("b")
        raise RuntimeError("boom")
    assert sorted(p.name for p in out.iterdir()) == [FOLDER_MARKER, "a.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_staged_folder_takes_the_place_of_an_empty_one(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with staged_dir(out, command="map") as stage:
        (stage / "a.txt").write_text("a")
    assert (out / "a.txt").read_text() == "a" and is_ours(out)
