"""The outputs of ``prepare``: the dataset, its rejected list and the pairs file.

They appear together: all are complete in temporary files before the first is put
in place, the dataset last. A run killed in between leaves no dataset, only lists
of ours, which the next run replaces.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from io import StringIO
from pathlib import Path
from typing import Any

from ..._atomic import DATASET_SUFFIXES, atomic_path, check_output, crash_point
from ..._owned import is_ours, text_marker
from ..._typing import PathLike
from ...errors import StarlabelInputError
from ..container import Spectra
from ..io.hdf5 import DatasetWriter
from ..io.registry import Rejected
from .config import PrepareReport

__all__ = ["check_outputs", "rejected_path_of", "repeat_pairs", "write_outputs"]


def write_outputs(
    batches: Iterator[Spectra],
    report: PrepareReport,
    output: Path,
    rejected_path: Path,
    pairs_path: Path | None,
    *,
    overwrite: bool,
) -> None:
    """Write the batches to ``output``, then the pairs file and the rejected list
    (from ``report``), and put the dataset in place last.

    Raises:
        StarlabelInputError: no batch (nothing passed), naming the most common
            reason a spectrum was skipped.
    """
    writer: DatasetWriter | None = None
    written: list[str] = []
    placed: list[Path] = []
    try:
        for batch in batches:
            if writer is None:
                writer = DatasetWriter(output, batch, overwrite=overwrite)
            writer.append(batch)
            if report.repeat_of:
                written += batch.ids.tolist()
        if writer is None:
            reasons = Counter(r.reason for r in report.rejected).most_common(1)
            why = f" (most common reason: {reasons[0][0]})" if reasons else ""
            raise StarlabelInputError(
                f"no spectrum passed; nothing written{why}", path=output
            )
        writer.finish()
        report.pairs = repeat_pairs(written, report.repeat_of)
        if output.exists():  # ours, and --overwrite: never beside the new lists
            output.unlink()
        if pairs_path is not None:
            report.pairs_file = _write_csv(
                pairs_path,
                ["id1", "id2"],
                report.pairs,
                note=_pairs_note(output)[2:],
            )
            placed.append(pairs_path)
        report.rejected_file = _write_rejected(rejected_path, report.rejected)
        if report.rejected_file is not None:
            placed.append(report.rejected_file)
        crash_point("between")
        writer.commit()
    except BaseException:
        if writer is not None:
            writer.abort()
        for path in placed:  # lists of a dataset that did not appear
            path.unlink(missing_ok=True)
        raise


def rejected_path_of(output: PathLike) -> Path:
    """``<output>.rejected.csv``: where ``prepare`` lists the skipped spectra."""
    return Path(output).with_name(Path(output).name + ".rejected.csv")


def check_outputs(
    output: PathLike,
    *,
    overwrite: bool,
    pairs_out: PathLike | None = None,
    repeats: bool = False,
) -> tuple[Path, Path, Path | None]:
    """Check the dataset, its rejected list and the pairs file before any work.

    The rejected list beside the dataset follows the dataset: an earlier list of
    starlabel's is replaced with it (or, the dataset missing, is the leftover of
    an interrupted run); a file there that starlabel did not write is refused. The
    pairs file needs ``--overwrite`` unless it is such a leftover of ours (its
    note names this dataset, which is missing).

    Returns:
        the dataset, rejected-list and pairs paths.

    Raises:
        StarlabelInputError: one line naming the path that cannot be written.
    """
    output = check_output(output, overwrite=overwrite, suffixes=DATASET_SUFFIXES)
    rejected = check_output(rejected_path_of(output), overwrite=True)
    pairs = None
    if pairs_out is not None:
        if not repeats:
            raise ValueError("--pairs-out: needs --repeats (pairs of repeat spectra)")
        pairs = Path(pairs_out)
        if pairs.absolute() in (output.absolute(), rejected.absolute()):
            raise StarlabelInputError(
                "the pairs file must differ from the dataset and its rejected list",
                path=pairs,
            )
        stale = not output.exists() and _note_of(pairs) == _pairs_note(output)
        check_output(pairs, overwrite=overwrite or stale, suffixes=(".csv",))
    return output, rejected, pairs


def repeat_pairs(
    written: Sequence[str], repeat_of: Mapping[str, str]
) -> list[tuple[str, str]]:
    """``(first, other)`` for each written repeat of a star whose first spectrum
    (or an earlier repeat, if the first was cut) was written too."""
    by_star: dict[str, list[str]] = {}
    repeated = set(repeat_of.values())
    for name in written:
        star = repeat_of.get(name, name)
        if star in repeated:
            by_star.setdefault(star, []).append(name)
    return [(names[0], other) for names in by_star.values() for other in names[1:]]


def _pairs_note(output: Path) -> str:
    return f"# pairs of spectra of one star in {output.name}"


def _note_of(path: Path) -> str | None:
    """The second line of a text file of ours, if it is one."""
    if not path.is_file() or not is_ours(path):
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            fh.readline()
            return fh.readline().rstrip("\n")
    except (OSError, UnicodeDecodeError):
        return None


def _write_csv(
    path: Path, header: list[str], rows: Iterable[Sequence[Any]], *, note: str = ""
) -> Path:
    """A CSV file of ours, atomically: the marker line, a note, the table."""
    buf = StringIO()
    buf.write(text_marker() + "\n")
    if note:
        buf.write(f"# {note}\n")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    with atomic_path(path) as tmp:
        tmp.write_text(buf.getvalue(), encoding="utf-8")
    return path


def _write_rejected(path: Path, rejected: Sequence[Rejected]) -> Path | None:
    """List the skipped spectra; remove an earlier list (ours) when none was skipped,
    so that the list always describes the dataset beside it."""
    if not rejected:
        path.unlink(missing_ok=True)
        return None
    rows = ((r.source, r.star, r.reason) for r in rejected)
    return _write_csv(path, ["source", "star", "reason"], rows)
