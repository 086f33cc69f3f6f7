import h5py
import numpy as np
import pytest

from starlabel.errors import StarlabelInputError
from starlabel.spectra import (
    DatasetReader,
    DatasetWriter,
    Spectra,
    read_dataset,
    write_dataset,
)
from starlabel.spectra.io.hdf5 import split_dataset

from ...conftest import gaussian_line_spectra


def _assert_same(a: Spectra, b: Spectra) -> None:
    np.testing.assert_array_equal(a.flux, b.flux)
    np.testing.assert_array_equal(a.ivar, b.ivar)
    np.testing.assert_array_equal(a.wavelength_aa, b.wavelength_aa)
    for group in ("labels", "labels_err", "labels_crlb", "extra", "meta"):
        da, db = getattr(a, group), getattr(b, group)
        assert list(da) == list(db) or set(da) == set(db), group
        for key in da:
            assert da[key].dtype.kind == db[key].dtype.kind, (group, key)
            np.testing.assert_array_equal(da[key], db[key], err_msg=f"{group}/{key}")
    assert a.label_units == b.label_units
    assert (a.medium, a.rest_frame, a.setup, a.attrs) == (
        b.medium,
        b.rest_frame,
        b.setup,
        b.attrs,
    )


def test_round_trip_is_lossless(tmp_path):
    sp = gaussian_line_spectra(n=7)
    sp.labels["teff"][3] = np.nan
    sp = sp.replace(
        meta={
            **sp.meta,
            "flag": np.arange(7, dtype=np.int64),
            "ok": np.array([True, False] * 3 + [True]),
        },
        medium="vacuum",
        rest_frame=False,
        attrs={"survey": "GES iDR6", "history": ["a", "b"]},
    )
    path = tmp_path / "d.h5"
    write_dataset(sp, path)
    back = read_dataset(path)
    _assert_same(sp, back)
    with h5py.File(path, "r") as f:
        assert f.attrs["format"] == "starlabel-spectra"
        assert f.attrs["version"] == 1
        assert f.attrs["wavelength_unit"] == "Angstrom"
        assert f["wavelength"].dtype == np.float64
        assert f["flux"].dtype == np.float32 and f["flux"].chunks is not None
        assert f["labels/teff"].attrs["unit"] == "K"
        assert f["labels/teff"].dtype == np.float64
        assert f["extra/gmag"].dtype == np.float32


def test_batches_equal_the_whole_and_stay_small(tmp_path):
    sp = gaussian_line_spectra(n=23)
    path = tmp_path / "d.h5"
    with DatasetWriter(path, sp[:5]) as w:  # appended in uneven pieces
        for start in range(0, 23, 5):
            w.append(sp[start : start + 5])
    with DatasetReader(path) as r:
        sizes = []
        parts = []
        for batch in r.iter_batches(4):
            sizes.append(len(batch))
            parts.append(batch)
        assert max(sizes) == 4 and sum(sizes) == 23
        _assert_same(Spectra.concatenate(parts), sp)
        _assert_same(r.read(slice(10, 13)), sp[10:13])


def test_failed_write_leaves_nothing(tmp_path):
    sp = gaussian_line_spectra(n=4)
    path = tmp_path / "d.h5"
    with (
        pytest.raises(ValueError, match="already written"),
        DatasetWriter(path, sp) as w,
    ):
        w.append(sp)
        w.append(sp)  # duplicated ids
    assert list(tmp_path.iterdir()) == []


def test_bad_files_give_one_line_errors(tmp_path):
    empty = tmp_path / "empty.h5"
    empty.write_bytes(b"")
    with pytest.raises(
        StarlabelInputError, match=r"empty\.h5: not a readable HDF5"
    ) as exc:
        read_dataset(empty)
    assert "\n" not in str(exc.value)

    good = tmp_path / "good.h5"
    write_dataset(gaussian_line_spectra(n=50, n_pixels=2000), good)
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    with pytest.raises(StarlabelInputError, match="truncated"):
        read_dataset(truncated)

    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = [1]
    with pytest.raises(StarlabelInputError, match="not a starlabel dataset"):
        read_dataset(other)

    newer = tmp_path / "newer.h5"
    newer.write_bytes(good.read_bytes())
    with h5py.File(newer, "a") as f:
        f.attrs["version"] = 99
    with pytest.raises(StarlabelInputError, match="upgrade starlabel"):
        read_dataset(newer)

    broken = tmp_path / "noid.h5"
    broken.write_bytes(good.read_bytes())
    with h5py.File(broken, "a") as f:
        del f["meta/id"]
    with pytest.raises(StarlabelInputError, match="missing required dataset /meta/id"):
        read_dataset(broken)

    with pytest.raises(StarlabelInputError, match="no such file"):
        read_dataset(tmp_path / "absent.h5")


def test_split_file_matches_in_memory_split(tmp_path):
    sp = gaussian_line_spectra(n=40)
    path = tmp_path / "d.h5"
    write_dataset(sp, path)
    parts = split_dataset(
        path, tmp_path / "p", (0.5, 0.25, 0.25), seed=7, stratify="teff", batch_size=7
    )
    expected = sp.split((0.5, 0.25, 0.25), seed=7, stratify="teff")
    for (name, (file, n)), exp in zip(parts.items(), expected, strict=True):
        assert file.name == f"p-{name}.h5"
        got = read_dataset(file)
        assert n == len(exp)
        assert got.ids.tolist() == exp.ids.tolist()
    with pytest.raises(StarlabelInputError, match="too few"):
        split_dataset(path, tmp_path / "q", (0.98, 0.01, 0.01))


# ------------------------------------------------------------ output paths
def test_dataset_writers_refuse_other_extensions_before_any_work(tmp_path):
    from starlabel.spectra.io.hdf5 import write_batches

    sp = gaussian_line_spectra(n=4)
    with pytest.raises(
        StarlabelInputError, match=r"x\.csv: .*must end in \.h5 or \.hdf5"
    ):
        write_dataset(sp, tmp_path / "x.csv")
    asked = []

    def batches():
        asked.append(1)
        yield sp

    with pytest.raises(StarlabelInputError, match="must end in"):
        write_batches(tmp_path / "x.fits", batches())
    assert asked == [] and list(tmp_path.iterdir()) == []
    write_dataset(sp, tmp_path / "x.hdf5")
    assert read_dataset(tmp_path / "x.hdf5").ids.tolist() == sp.ids.tolist()


def test_dataset_writers_never_overwrite_without_the_flag(tmp_path):
    a, b = gaussian_line_spectra(n=4, seed=1), gaussian_line_spectra(n=6, seed=2)
    path = tmp_path / "d.h5"
    write_dataset(a, path)
    before = path.read_bytes()
    with pytest.raises(StarlabelInputError, match=r"d\.h5: exists .*pass --overwrite"):
        write_dataset(b, path)
    with pytest.raises(StarlabelInputError, match="exists"):
        b.to_hdf5(path)
    assert path.read_bytes() == before
    write_dataset(b, path, overwrite=True)
    assert len(read_dataset(path)) == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.h5"]


def test_dataset_writer_refuses_a_directory(tmp_path):
    (tmp_path / "out.h5").mkdir()
    with pytest.raises(StarlabelInputError, match="is a directory") as exc:
        write_dataset(gaussian_line_spectra(n=3), tmp_path / "out.h5", overwrite=True)
    assert "\n" not in str(exc.value)


def test_split_is_all_or_nothing(tmp_path):
    path = tmp_path / "d.h5"
    write_dataset(gaussian_line_spectra(n=30), path)
    (tmp_path / "p-valid.h5").mkdir()  # one blocked output
    with pytest.raises(StarlabelInputError, match=r"p-valid\.h5: is a directory"):
        split_dataset(path, tmp_path / "p", (0.6, 0.2, 0.2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.h5", "p-valid.h5"]
    assert list((tmp_path / "p-valid.h5").iterdir()) == []
    # an existing part is not replaced without overwrite, and nothing else appears
    (tmp_path / "p-valid.h5").rmdir()
    (tmp_path / "p-test.h5").write_text("mine")  # a user's file: never replaced
    for flag in (False, True):
        with pytest.raises(
            StarlabelInputError, match=r"p-test\.h5: exists and was not"
        ):
            split_dataset(path, tmp_path / "p", (0.6, 0.2, 0.2), overwrite=flag)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.h5", "p-test.h5"]
    (tmp_path / "p-test.h5").unlink()
    write_dataset(gaussian_line_spectra(n=3, seed=4), tmp_path / "p-test.h5")  # ours
    with pytest.raises(StarlabelInputError, match=r"p-test\.h5: exists .*--overwrite"):
        split_dataset(path, tmp_path / "p", (0.6, 0.2, 0.2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.h5", "p-test.h5"]
    parts = split_dataset(path, tmp_path / "p", (0.6, 0.2, 0.2), overwrite=True)
    assert sum(n for _, n in parts.values()) == 30
    assert len(read_dataset(tmp_path / "p-test.h5")) == parts["test"][1]


def test_split_rename_failing_midway_removes_the_parts_already_placed(
    tmp_path, monkeypatch
):
    from starlabel._atomic import AtomicFile

    path = tmp_path / "d.h5"
    write_dataset(gaussian_line_spectra(n=30), path)
    real = AtomicFile.commit
    calls = []

    def commit(self):
        calls.append(self.target.name)
        if self.target.name == "p-test.h5":
            self.discard()
            raise OSError("disk full")
        return real(self)

    monkeypatch.setattr(AtomicFile, "commit", commit)
    with pytest.raises(OSError, match="disk full"):
        split_dataset(path, tmp_path / "p", (0.6, 0.2, 0.2))
    assert calls == ["p-train.h5", "p-valid.h5", "p-test.h5"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.h5"]


# ------------------------------------------------------- malformed files
def _edited(tmp_path, name, edit):
    path = tmp_path / name
    write_dataset(gaussian_line_spectra(n=5, n_pixels=40), path)
    with h5py.File(path, "a") as f:
        edit(f)
    return path


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda f: f.create_dataset("labels/extra/foo", data=np.zeros(5)),
            r"/labels/extra is a group; /labels may hold only 1-D datasets",
        ),
        (
            lambda f: f.create_dataset("labels/logg", data=np.zeros(4)),
            r"/labels/logg has shape \(4,\), expected \(5,\)",
        ),
        (
            lambda f: f.create_dataset("meta/snr2", data=np.zeros((5, 2))),
            r"/meta/snr2 has shape \(5, 2\), expected \(5,\)",
        ),
        (
            lambda f: f.create_dataset("labels/name", data=np.array([b"a"] * 5)),
            r"/labels/name has type .*expected numbers",
        ),
        (
            lambda f: (
                f.__delitem__("flux"),
                f.create_dataset("flux", data=np.ones(40)),
            ),
            r"/flux has shape \(40,\), expected \(n_spectra, n_pixels\)",
        ),
        (
            lambda f: (
                f.__delitem__("ivar"),
                f.create_dataset("ivar", data=np.ones((5, 39))),
            ),
            r"shapes disagree",
        ),
        (
            lambda f: f.__delitem__("meta/id"),
            r"missing required dataset /meta/id",
        ),
        (
            lambda f: (f.__delitem__("meta/id"), f.create_group("meta/id")),
            r"/meta/id is a group, expected a dataset",
        ),
        (
            lambda f: f["labels/teff"].attrs.__setitem__("unit", "K"),  # harmless
            None,
        ),
    ],
)
def test_malformed_datasets_are_one_line_errors(tmp_path, edit, message):
    path = _edited(tmp_path, "bad.h5", edit)
    if message is None:
        assert len(read_dataset(path)) == 5
        return
    with pytest.raises(StarlabelInputError, match=message) as exc:
        read_dataset(path)
    text = str(exc.value)
    assert text.startswith(str(path) + ": ") and "\n" not in text


def test_duplicate_ids_in_a_file_are_a_one_line_error(tmp_path):
    def edit(f):
        del f["meta/id"]
        f.create_dataset("meta/id", data=np.array([b"a", b"b", b"a", b"c", b"d"]))

    path = _edited(tmp_path, "dup.h5", edit)
    with pytest.raises(StarlabelInputError, match="must be unique") as exc:
        read_dataset(path)
    assert str(path) in str(exc.value)


# ------------------------------------------------------ non-physical flux
def test_non_physical_flux_is_masked_on_read_and_counted(tmp_path, caplog):
    from starlabel.spectra import Flag

    sp = gaussian_line_spectra(n=6, n_pixels=50)
    flux = sp.flux.copy()
    flux[2, 17] = 1e30
    flux[4, 0] = -5e28
    flux[4, 49] = np.inf
    meta = dict(sp.meta, flag=np.array([0, 0, 4, 0, 0, 0]))
    path = tmp_path / "d.h5"
    # written as they are (the writer keeps what it is given)
    write_dataset(sp.replace(flux=flux, meta=meta), path)
    with h5py.File(path, "r") as f:
        assert f["flux"][2, 17] == np.float32(1e30)

    with DatasetReader(path) as r, caplog.at_level("WARNING"):
        got = r.read()
        assert (r.n_nonphysical_pixels, r.n_nonphysical_spectra) == (3, 2)
    bad = np.zeros(flux.shape, bool)
    bad[2, 17] = bad[4, 0] = bad[4, 49] = True
    assert np.all(got.ivar[bad] == 0)
    np.testing.assert_array_equal(got.ivar[~bad], sp.ivar[~bad])
    np.testing.assert_array_equal(got.flux[~bad], sp.flux[~bad])
    # the masked pixel holds a value between its neighbours, never the bad one
    assert got.flux[2, 17] == pytest.approx(0.5 * (sp.flux[2, 16] + sp.flux[2, 18]))
    assert got.flux[4, 0] == sp.flux[4, 1] and got.flux[4, 49] == sp.flux[4, 48]
    assert got.meta["flag"].tolist() == [0, 0, 4 | 256, 0, 256, 0]
    assert Flag.NONPHYSICAL_FLUX == 256
    assert "masked 3 non-physical flux pixels" in caplog.text and "s002" in caplog.text


def test_physical_extremes_are_kept(tmp_path):
    sp = gaussian_line_spectra(n=2, n_pixels=30)
    flux = sp.flux.copy()
    flux[0, 3], flux[0, 4], flux[1, 5] = -1.0, 10.0, 0.0  # the edges of [-1, 10]
    write_dataset(sp.replace(flux=flux), tmp_path / "d.h5")
    with DatasetReader(tmp_path / "d.h5") as r:
        got = r.read()
        assert r.n_nonphysical_pixels == 0
    np.testing.assert_array_equal(got.flux, flux)
    np.testing.assert_array_equal(got.ivar, sp.ivar)


# ------------------------------------------------------------ fingerprint
def test_dataset_fingerprint(tmp_path):
    import hashlib

    from starlabel.spectra.io import dataset_fingerprint

    sp = gaussian_line_spectra(n=9, n_pixels=30)
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    write_dataset(sp, a)
    write_dataset(sp, b)
    fp = dataset_fingerprint(a)
    assert fp.startswith("sha256:") and len(fp) == 7 + 64
    assert fp == dataset_fingerprint(b)  # the content, not the name or the time
    with DatasetReader(a) as r:
        assert dataset_fingerprint(r) == fp
    # independent recomputation of the documented recipe
    h = hashlib.sha256()
    h.update(b"starlabel-spectra/1/9x30\n")
    h.update(sp.wavelength_aa.astype("<f8").tobytes())
    h.update("\0".join(sp.ids.tolist()).encode() + b"\0")
    for row in (0, 8):
        h.update(sp.flux[row].astype("<f4").tobytes())
        h.update(sp.ivar[row].astype("<f4").tobytes())
    assert fp == "sha256:" + h.hexdigest()
    renamed = sp.replace(meta=dict(sp.meta, id=[f"t{i}" for i in range(9)]))
    write_dataset(renamed, tmp_path / "c.h5")
    write_dataset(sp[:8], tmp_path / "d.h5")
    write_dataset(sp[::-1], tmp_path / "e.h5")
    others = {dataset_fingerprint(tmp_path / n) for n in ("c.h5", "d.h5", "e.h5")}
    assert len(others) == 3 and fp not in others


def test_negative_ivar_deep_in_a_file_is_masked_and_named_by_id_and_row(
    tmp_path, caplog
):
    import logging

    from starlabel.spectra.io.hdf5 import DatasetReader

    from ...conftest import gaussian_line_spectra

    sp = gaussian_line_spectra(n=130, n_pixels=64, seed=3)
    path = tmp_path / "d.h5"
    write_dataset(sp, path)
    with h5py.File(path, "a") as h5:
        h5["ivar"][115, 10] = -5.0
    with caplog.at_level(logging.WARNING), DatasetReader(path) as reader:
        batches = list(reader.iter_batches(50))
    assert sum(b.n_spectra for b in batches) == 130
    assert batches[2].ivar[115 - 100, 10] == 0 and (batches[2].ivar >= 0).all()
    text = caplog.text
    assert "s115" in text and "[115]" in text and "d.h5" in text
