"""Running the chunks of a survey run that are not done yet, in this process or on
Dask workers, writing each part (and a ``--log`` line) as it finishes."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .._typing import PathLike
from .chunks import ChunkJob, ChunkResult, label_chunk, worker_name
from .parts import Chunk, InputFile, PartStore
from .settings import RunSettings

__all__ = ["run_chunks"]

_Finished = Callable[[ChunkResult, Chunk], None]


class _Log:
    """The ``--log`` file: one JSON line per finished chunk (appended)."""

    def __init__(self, path: PathLike | None) -> None:
        self.fh = open(path, "a", encoding="utf-8") if path else None  # noqa: SIM115

    def write(self, **record: Any) -> None:
        if self.fh is not None:
            self.fh.write(json.dumps(record) + "\n")
            self.fh.flush()

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()


def run_chunks(
    model: Any,
    inputs: list[InputFile],
    todo: list[Chunk],
    store: PartStore,
    run: RunSettings,
    *,
    model_dir: Path,
    model_fp: str,
    meta: dict[str, str],
    total: int,
) -> int:
    """Run the chunks not done yet; write each part as it finishes. Returns rows."""
    logger = _Log(run.log)
    rows = 0

    def finished(result: ChunkResult, chunk: Chunk) -> None:
        nonlocal rows
        store.write_part(result.part, result.table)
        rows += chunk.rows
        logger.write(
            source=inputs[chunk.source].name,
            start=chunk.start,
            stop=chunk.stop,
            rows=chunk.rows,
            seconds=round(result.seconds, 3),
            worker=result.worker,
            time=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        )
        if run.progress is not None:
            run.progress(chunk.rows, total)

    try:
        if not todo:
            return 0
        if run.distributed:
            jobs = _jobs(inputs, todo, run, model_dir, model_fp, meta)
            _run_on_dask(jobs, {c.part: c for c in todo}, run, finished)
        else:
            _run_here(model, inputs, todo, run, model_dir, meta, finished)
    finally:
        logger.close()
    return rows


def _jobs(
    inputs: list[InputFile],
    todo: list[Chunk],
    run: RunSettings,
    model_dir: Path,
    model_fp: str,
    meta: dict[str, str],
) -> Iterator[ChunkJob]:
    """One picklable job per chunk for a Dask worker (which loads the model once
    from the staged copy)."""
    return (
        ChunkJob(
            model_dir=str(model_dir.absolute()),
            model_fp=model_fp,
            options=run.options,
            path=inputs[c.source].path,
            source=inputs[c.source].name,
            start=c.start,
            stop=c.stop,
            part=c.part,
            meta=meta,
            ood=run.ood,
            threads=1 if not run.scheduler else None,
        )
        for c in todo
    )


def _run_on_dask(
    jobs: Iterator[ChunkJob],
    by_part: dict[str, Chunk],
    run: RunSettings,
    finished: _Finished,
) -> None:
    from .distributed import dask_client, run_on_dask

    with dask_client(run.workers, run.scheduler) as client:
        for result in run_on_dask(client, jobs):
            finished(result, by_part[result.part])


def _run_here(
    model: Any,
    inputs: list[InputFile],
    todo: list[Chunk],
    run: RunSettings,
    model_dir: Path,
    meta: dict[str, str],
    finished: _Finished,
) -> None:
    if run.predict is None:  # the staged copy, as workers and resumed runs use
        from ..models import load

        model = load(model_dir)
    scorer = run.ood() if run.ood is not None else None
    for c in todo:
        t0 = time.perf_counter()
        table, counts = label_chunk(
            model,
            run.options,
            inputs[c.source].path,
            inputs[c.source].name,
            c.start,
            c.stop,
            meta=meta,
            predict=run.predict,
            ood_score=scorer,
        )
        finished(
            ChunkResult(c.part, table, counts, time.perf_counter() - t0, worker_name()),
            c,
        )
