"""One chunk of rows of one dataset file -> one catalogue part (a pyarrow table).

:func:`label_chunk` does the work with a model in hand; :func:`run_job` is what a
Dask worker runs: it loads the model once per process (from the parts folder's copy,
checked against the run's fingerprint), reads its rows straight from the HDF5 file
and returns the part, so only chunk coordinates and small tables travel.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import StarlabelInputError
from ..spectra.io.hdf5 import DatasetReader
from .catalogue import table_to_arrow
from .labelling import add_counts, label_batch

__all__ = ["ChunkJob", "ChunkResult", "label_chunk", "run_job"]

_MODELS: dict[tuple[str, str, str], Any] = {}


@dataclass(frozen=True)
class ChunkJob:
    """What a worker needs for one chunk (small: no spectra, no model)."""

    model_dir: str
    model_fp: str
    options: Any
    path: str
    source: str
    start: int
    stop: int
    part: str
    meta: dict[str, str]
    ood: Callable[[], Callable[[Any], np.ndarray]] | None = None
    threads: int | None = None


@dataclass(frozen=True)
class ChunkResult:
    """A finished chunk: its part, counts, seconds and the worker that ran it."""

    part: str
    table: Any
    counts: dict[str, int]
    seconds: float
    worker: str


def label_chunk(
    model: Any,
    options: Any,
    path: str,
    source: str,
    start: int,
    stop: int,
    *,
    meta: dict[str, str],
    predict: Callable[..., Any] | None = None,
    ood_score: Callable[[Any], np.ndarray] | None = None,
) -> tuple[Any, dict[str, int]]:
    """The catalogue part of rows ``[start, stop)`` of dataset ``path``.

    Reads ``options.batch_size`` spectra at a time (memory stays bounded by it).

    Args:
        predict: ``predict(batch, options, first_row=...)`` instead of
            ``model.predict`` (the per-star fit).
        meta: catalogue metadata stored in the part.

    Returns:
        the part (a pyarrow table: ``id``, ``source``, the model's columns,
        ``flag``; ``meta`` and the counts in the schema metadata) and the counts.
    """
    from astropy.table import vstack

    tables, counts = [], {}
    with DatasetReader(path) as reader:
        for first in range(start, stop, options.batch_size):
            batch = reader.read(slice(first, min(first + options.batch_size, stop)))
            hook = None
            if predict is not None:

                def hook(b, o, _first=first):
                    return predict(b, o, first_row=_first)

            try:
                table, c = label_batch(
                    model, batch, options, predict=hook, ood_score=ood_score
                )
            except StarlabelInputError as exc:
                raise exc.with_context(path=path) from exc
            tables.append(table)
            add_counts(counts, c)
    table = (
        vstack(tables, metadata_conflicts="silent") if len(tables) > 1 else tables[0]
    )
    table.add_column(np.full(len(table), source), name="source", index=1)
    table["source"].description = "the dataset file the spectrum came from"
    table.meta.clear()
    table.meta.update(meta)
    arrow = table_to_arrow(table)
    schema_meta = dict(arrow.schema.metadata or {})
    schema_meta[b"starlabel_counts"] = json.dumps(counts).encode()
    return arrow.replace_schema_metadata(schema_meta), counts


def worker_name() -> str:
    """``<Dask worker name>:pid`` inside a Dask worker, else ``host:pid`` (Dask is
    not imported here: only a worker process has it loaded already)."""
    distributed = sys.modules.get("distributed")
    if distributed is not None:
        try:
            return f"{distributed.get_worker().name}:{os.getpid()}"
        except ValueError:  # not in a worker
            pass
    return f"{socket.gethostname()}:{os.getpid()}"


def run_job(job: ChunkJob) -> ChunkResult:
    """Run one chunk in a worker process (the model is loaded once per process)."""
    from ..models import load
    from .parts import directory_fingerprint

    t0 = time.perf_counter()
    if job.threads:
        import torch

        torch.set_num_threads(job.threads)
    key = (job.model_dir, job.model_fp, repr(job.ood))
    if key not in _MODELS:
        found = directory_fingerprint(job.model_dir)
        if found != job.model_fp:
            raise StarlabelInputError(
                "the model changed while the run was going on (fingerprint "
                f"{found[:19]} != {job.model_fp[:19]}); start the run again",
                path=job.model_dir,
            )
        _MODELS.clear()
        _MODELS[key] = (load(job.model_dir), job.ood() if job.ood else None)
    model, ood = _MODELS[key]
    table, counts = label_chunk(
        model,
        job.options,
        job.path,
        job.source,
        job.start,
        job.stop,
        meta=job.meta,
        ood_score=ood,
    )
    return ChunkResult(job.part, table, counts, time.perf_counter() - t0, worker_name())
