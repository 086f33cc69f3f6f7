"""Splitting a dataset file into train / valid (/ test) files, all or none."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from ...._atomic import (
    DATASET_SUFFIXES,
    check_output,
    crash_point,
    remove_stale_temporaries,
)
from ...._typing import PathLike
from ....errors import StarlabelInputError
from ...splits import assign_split
from .layout import FORMAT
from .reader import DatasetReader
from .writer import DatasetWriter

__all__ = ["SPLIT_NAMES", "split_dataset", "split_outputs"]

SPLIT_NAMES = {2: ("train", "valid"), 3: ("train", "valid", "test")}


def split_outputs(prefix: PathLike, n_parts: int = 3) -> dict[str, Path]:
    """The files :func:`split_dataset` writes: part name -> ``PREFIX-<name>.h5``."""
    if n_parts not in SPLIT_NAMES:
        raise ValueError(f"n_parts: expected 2 or 3, got {n_parts}")
    return {name: Path(f"{prefix}-{name}.h5") for name in SPLIT_NAMES[n_parts]}


def split_dataset(
    path: PathLike,
    prefix: PathLike,
    fractions: Sequence[float] = (0.6, 0.2, 0.2),
    *,
    seed: int = 0,
    stratify: str | None = None,
    batch_size: int = 4096,
    overwrite: bool = False,
) -> dict[str, tuple[Path, int]]:
    """Split a dataset file into ``PREFIX-train.h5``, ``PREFIX-valid.h5`` (and ``-test``).

    Streams the file in batches (bounded memory); the assignment is that of
    :meth:`Spectra.split` with the same seed. All files appear together or none:
    every target is checked first, all parts are written to temporary files, and
    they are renamed only when all are complete (a rename failing midway removes
    the parts this call had already put in place). Each part records its split
    (attributes ``split_group``, ``split_files``): the parts of a split killed
    while its files were moved into place are replaced by the next run without
    ``--overwrite``.

    Args:
        overwrite: replace existing part files of ours (and remove the test part
            of an earlier 3-part split when this one has 2 parts).

    Returns:
        part name -> (path, number of spectra).

    Raises:
        StarlabelInputError: a target is a directory, unwritable or exists without
            ``overwrite``; the input is unreadable; a part would be empty.
    """
    if len(fractions) not in SPLIT_NAMES:
        raise ValueError(
            f"fractions: give 2 (train, valid) or 3 (train, valid, test), got {len(fractions)}"
        )
    names = SPLIT_NAMES[len(fractions)]
    outputs = split_outputs(prefix, len(fractions))
    unfinished = _unfinished_split(outputs)
    for target in outputs.values():
        remove_stale_temporaries(target)
        check_output(
            target,
            overwrite=overwrite or target in unfinished,
            suffixes=DATASET_SUFFIXES,
        )
    group = {
        "split_group": secrets.token_hex(8),
        "split_files": json.dumps(sorted(p.name for p in outputs.values())),
    }
    with DatasetReader(path) as reader:
        if Path(path).resolve() in {o.resolve() for o in outputs.values()}:
            raise StarlabelInputError(
                "the input would be replaced by one of the split parts; choose another prefix",
                path=path,
            )
        strata = None if stratify is None else _strata(reader, stratify)
        part = assign_split(len(reader), fractions, seed=seed, strata=strata)
        counts = np.bincount(part, minlength=len(names))
        if np.any(counts == 0):
            raise StarlabelInputError(
                f"{len(reader)} spectra are too few for fractions {list(fractions)}: a part would be empty",
                path=reader.path,
            )
        replace = {name: overwrite or outputs[name] in unfinished for name in names}
        _write_parts(reader, part, outputs, replace, group, batch_size)
    if overwrite:  # a 2-part split over a 3-part one: its test part would mix in
        for target in split_outputs(prefix, 3).values():
            if target not in outputs.values() and _split_group(target) is not None:
                target.unlink()
    return {name: (outputs[name], int(counts[k])) for k, name in enumerate(names)}


def _strata(reader: DatasetReader, stratify: str) -> np.ndarray:
    """The label to stratify on."""
    if stratify not in reader.label_names:
        raise StarlabelInputError(
            f"no label {stratify!r} to stratify on; have {reader.label_names}",
            path=reader.path,
        )
    return reader.label_column(stratify)


def _write_parts(
    reader: DatasetReader,
    part: np.ndarray,
    outputs: dict[str, Path],
    replace: dict[str, bool],
    attrs: dict[str, str],
    batch_size: int,
) -> None:
    """Stream the rows of part ``k`` into the ``k``-th output; all files complete
    before the first is moved into place, and none left if any fails."""
    names = list(outputs)
    writers: dict[str, DatasetWriter] = {}
    placed: list[Path] = []
    try:
        start = 0
        for batch in reader.iter_batches(batch_size):
            which = part[start : start + len(batch)]
            start += len(batch)
            for k, name in enumerate(names):
                sel = which == k
                if not sel.any():
                    continue
                if name not in writers:
                    writers[name] = DatasetWriter(
                        outputs[name], batch, overwrite=replace[name], attrs=attrs
                    )
                writers[name].append(batch[sel])
        for w in writers.values():
            w.finish()
        for k, name in enumerate(names):
            if k:
                crash_point("between")
            placed.append(writers[name].commit())
    except BaseException:
        for w in writers.values():
            w.abort()
        for done in placed:
            done.unlink(missing_ok=True)
        raise


def _unfinished_split(outputs: dict[str, Path]) -> set[Path]:
    """Parts of an earlier split of ours whose group is incomplete (a part missing
    or of another split: a run killed while moving its files into place). They
    are replaced without ``--overwrite``; a complete earlier split is not."""
    groups = {target: _split_group(target) for target in outputs.values()}
    tokens = {g for g in groups.values() if g is not None}
    if not tokens or (len(tokens) == 1 and all(groups.values())):
        return set()
    return {t for t, g in groups.items() if g is not None}


def _split_group(target: Path) -> str | None:
    """The split a part file of ours belongs to (None: no such file, not ours,
    or not a split part)."""
    if not target.is_file() or target.is_symlink():
        return None
    try:
        with h5py.File(target, "r") as h5:
            if h5.attrs.get("format") == FORMAT:
                return str(h5.attrs.get("split_group", "")) or None
    except (OSError, ValueError):
        pass
    return None
