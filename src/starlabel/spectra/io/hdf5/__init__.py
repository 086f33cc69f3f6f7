"""The starlabel dataset file (HDF5, ``format = "starlabel-spectra"``, version 1).

Layout (ARCHITECTURE.md): root attributes ``format``, ``version``,
``wavelength_unit``, ``medium``, ``rest_frame``, ``setup``; datasets
``/wavelength`` (float64), ``/flux`` and ``/ivar`` (float32, n_spec x n_pix, chunked
by rows), groups ``/labels``, ``/labels_err``, ``/labels_crlb`` (float64, attr
``unit``), ``/extra`` (float32) and ``/meta`` (``id`` required and unique).

Files are written to a temporary file and renamed, so a failed write leaves nothing;
output names must end in ``.h5`` or ``.hdf5``, and an existing file is replaced only
with ``overwrite=True``. :class:`DatasetReader` reads rows in batches, so a file
larger than memory can be processed; :class:`DatasetWriter` appends batches the
same way.

Reading masks non-physical flux (:func:`~starlabel.spectra.preprocess.nonphysical_flux`:
not finite or outside [-1, 10], the dataset flux being continuum-normalised): such
pixels get ``ivar = 0`` and an interpolated flux, the star's ``/meta/flag`` (when the
file has one) gets :attr:`Flag.NONPHYSICAL_FLUX`, the reader counts them
(``n_nonphysical_pixels``, ``n_nonphysical_spectra``) and logs one warning per file
and process with the whole file's counts. A grid that looks like nm or micron
labelled Angstrom (judged by the declared setup) is refused with that reason.

Modules: ``layout`` (format, version, groups, attributes), ``checks`` (what a file
must pass to be read), ``reader``, ``writer``, ``fingerprint``, ``split``.
"""

from .fingerprint import dataset_fingerprint
from .layout import FORMAT, VERSION
from .reader import DatasetReader, iter_dataset, read_dataset
from .split import split_dataset, split_outputs
from .writer import DatasetWriter, write_batches, write_dataset

__all__ = [
    "FORMAT",
    "VERSION",
    "write_dataset",
    "write_batches",
    "read_dataset",
    "iter_dataset",
    "split_dataset",
    "split_outputs",
    "dataset_fingerprint",
    "DatasetReader",
    "DatasetWriter",
]
