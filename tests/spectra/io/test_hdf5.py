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
