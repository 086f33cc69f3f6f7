"""Dataset checks every command shares (issue 26): a grid in nm labelled Angstrom,
and the non-physical-flux warning said once per file with the file's counts."""

from __future__ import annotations

import logging

import h5py
import numpy as np
import pytest

from starlabel.errors import StarlabelInputError
from starlabel.spectra import read_dataset, write_dataset
from starlabel.spectra.io.hdf5 import DatasetReader

from ..conftest import gaussian_line_spectra


def test_a_grid_in_nm_labelled_angstrom_is_named_and_the_unit_attribute_fixes_it(
    tmp_path,
):
    sp = gaussian_line_spectra(n=4, n_pixels=32)
    path = tmp_path / "d.h5"
    write_dataset(sp, path)
    with h5py.File(path, "a") as h5:
        h5["wavelength"][...] = np.linspace(1510.0, 1700.0, 32)  # APOGEE, in nm
        h5.attrs["setup"] = "apogee"
    with pytest.raises(
        StarlabelInputError, match=r"d\.h5: .*look like nm, not Angstrom"
    ):
        read_dataset(path)
    with h5py.File(path, "a") as h5:
        h5.attrs["wavelength_unit"] = "nm"
    got = read_dataset(path)
    assert got.wavelength_aa[0] == pytest.approx(15100.0)


def test_an_angstrom_grid_of_its_setup_is_fine(tmp_path):
    sp = gaussian_line_spectra(n=3, n_pixels=32)
    write_dataset(sp, tmp_path / "d.h5")
    with h5py.File(tmp_path / "d.h5", "a") as h5:
        h5.attrs["setup"] = "giraffe-hr10"  # 5000-5025 A: outside HR10, but not nm
    assert read_dataset(tmp_path / "d.h5").n_spectra == 3


def test_non_physical_flux_is_reported_once_per_file_with_its_counts(tmp_path, caplog):
    sp = gaussian_line_spectra(n=10, n_pixels=40)
    flux = sp.flux.copy()
    flux[0, 3] = np.nan
    flux[4, 5:8] = np.nan
    flux[9, 0] = 1e30
    path = tmp_path / "d.h5"
    write_dataset(sp.replace(flux=flux), path)
    with caplog.at_level(logging.WARNING):
        with DatasetReader(path) as peek:  # as predict looks at the first row
            peek.read(slice(0, 1))
        with DatasetReader(path) as reader:
            batches = list(reader.iter_batches(3))
            assert reader.n_nonphysical_pixels == 5
    assert sum(b.n_spectra for b in batches) == 10
    records = [r for r in caplog.records if "non-physical" in r.getMessage()]
    assert len(records) == 1, [r.getMessage() for r in records]
    text = records[0].getMessage()
    assert "masked 5 non-physical flux pixels" in text and "in 3 of 10 spectra" in text
    assert "rows [0, 4, 9]" in text
