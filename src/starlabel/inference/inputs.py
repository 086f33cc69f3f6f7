"""The input files of a survey run: expanding paths, patterns and folders into
dataset files, and describing each one (fingerprint, rows) once its grid is checked."""

from __future__ import annotations

import glob
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._typing import PathLike
from ..errors import StarlabelInputError
from ..spectra.io.hdf5 import DatasetReader, dataset_fingerprint
from .parts import InputFile

__all__ = ["describe_inputs", "expand_inputs"]


def expand_inputs(items: Sequence[PathLike]) -> list[Path]:
    """Dataset files from paths, glob patterns (``'survey/*.h5'``, quoted so the
    shell leaves them) and folders (their ``*.h5``/``*.hdf5`` files), sorted within
    each pattern or folder, each file once.

    Raises:
        StarlabelInputError: a pattern or folder matches no dataset file, or a
            named file does not exist.
    """
    out: list[Path] = []
    for item in items:
        text = str(item)
        if Path(text).is_dir():
            found = sorted(
                p for p in Path(text).iterdir() if p.suffix.lower() in (".h5", ".hdf5")
            )
            if not found:
                raise StarlabelInputError("folder holds no .h5 dataset file", path=text)
        elif glob.has_magic(text):
            found = sorted(Path(p) for p in glob.glob(text))
            if not found:
                raise StarlabelInputError("no file matches this pattern", path=text)
        else:
            if not Path(text).exists():
                raise StarlabelInputError("no such file", path=text)
            found = [Path(text)]
        out += [p for p in found if p.absolute() not in {q.absolute() for q in out}]
    if not out:
        raise StarlabelInputError("no dataset file given")
    return out


def describe_inputs(model: Any, paths: list[Path]) -> list[InputFile]:
    """Each input file described (name, fingerprint, rows) after checking that it
    holds spectra on the model's grid and that no two files share a name."""
    inputs = []
    for path in paths:
        with DatasetReader(path) as reader:
            if len(reader) == 0:
                raise StarlabelInputError("the dataset holds no spectra", path=path)
            model.check_grid(reader.read(slice(0, 1)), source=str(path))
            inputs.append(
                InputFile.describe(path, dataset_fingerprint(reader), len(reader))
            )
    names = [f.name for f in inputs]
    twice = {n for n in names if names.count(n) > 1}
    if twice:
        raise StarlabelInputError(
            f"two input files are named {sorted(twice)[0]}; the catalogue's source "
            "column could not tell them apart (rename one)"
        )
    return inputs
