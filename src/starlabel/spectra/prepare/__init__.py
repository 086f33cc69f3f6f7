"""``prepare``: survey files + label catalogue -> one dataset file on a common grid.

The chain, per raw spectrum: validate -> clean spikes and bad pixels -> continuum
normalisation (optional, for un-normalised inputs) -> convert to the grid's medium ->
shift to the rest frame (catalogue RV) -> flux-conserving resampling onto the grid.
Spectra of the same star from several setups (HR10 and HR21 files) are joined on the
grid (inverse-variance weighted where they overlap). Then labels are joined from the
catalogue, masked pixels filled, flags set and the quality cuts applied.

Non-physical flux is masked twice: on the raw spectrum, before cleaning and
resampling can spread it, pixels that are not finite or exceed 1000 times the
spectrum's median absolute flux (scale-free, for any flux unit); on the grid, where
the flux is continuum-normalised, pixels outside [-1, 10]. Both are counted in
:attr:`PrepareReport.n_nonphysical` and set :attr:`Flag.NONPHYSICAL_FLUX`; a
spectrum most of whose pixels fail the second rule is not normalised and is skipped
with that reason (use ``normalise``).

Files are read twice: a first pass learns which stars have several files and, when
no grid is given, the grid; the second pass resamples and writes in batches, holding
in memory only stars still waiting for another setup. Bad files and bad stars are
skipped, each with a one-line reason in the report; the rest is written.

Modules: ``config`` (settings, report), ``grid`` (the common grid), ``scan`` (the
reading pass, repeats, work units), ``spectrum`` (one raw spectrum onto the grid),
``batch`` (flags, labels, cuts), ``stream`` (the two passes), ``outputs`` (the
dataset, rejected list and pairs file), ``run`` (:func:`prepare_files`,
:func:`prepare_spectra`).
"""

from .config import PrepareConfig, PrepareReport
from .grid import infer_grid
from .outputs import check_outputs, rejected_path_of, repeat_pairs
from .run import prepare_files, prepare_spectra

__all__ = [
    "PrepareConfig",
    "PrepareReport",
    "prepare_files",
    "prepare_spectra",
    "infer_grid",
    "check_outputs",
    "rejected_path_of",
    "repeat_pairs",
]
