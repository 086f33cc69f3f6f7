"""Label one or many dataset files into one catalogue: chunk by chunk, resumable,
incremental, in this process or on Dask workers.

Each chunk of input rows becomes one Parquet part in the parts folder
(:mod:`starlabel.inference.parts`) as soon as it is done; the catalogue is then
written from the parts in input order (one part in memory at a time). A rerun of the
same command (after ``kill -9``, a power cut, or with new files added to the input
set) skips every part already done. Parts of another model, other options or a
changed input file are never mixed in: they are discarded (the parts are ours), and
an existing catalogue file is replaced without ``overwrite`` only by a run that adds
to it (the same model and options, and every file it was made from unchanged).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import check_output
from .._typing import PathLike
from ..errors import StarlabelInputError
from .catalogue import CATALOGUE_SUFFIXES
from .execute import run_chunks
from .inputs import describe_inputs
from .labelling import add_counts, catalogue_meta
from .output import check_existing, output_token, write_output
from .parts import (
    Chunk,
    InputFile,
    PartStore,
    directory_fingerprint,
    inputs_doc,
    plan_chunks,
)
from .settings import RunSettings, parts_folder

__all__ = ["DEFAULT_CHUNK", "predict_survey"]

#: Rows per part: resume granularity, unit of work of a worker, and what the driver
#: holds of a result at a time (the model reads ``batch_size`` spectra at once).
DEFAULT_CHUNK = 8192


def predict_survey(
    model: Any,
    inputs: Sequence[PathLike],
    output: PathLike,
    *,
    options: Any = None,
    chunk_size: int | None = None,
    workers: int = 0,
    scheduler: str | None = None,
    ood: Callable[[], Callable[[Any], np.ndarray]] | None = None,
    predict: Callable[..., Any] | None = None,
    run_key: dict[str, Any] | None = None,
    meta: dict[str, str] | None = None,
    source_column: bool = True,
    keep_parts: bool = True,
    progress: Callable[[int, int], None] | None = None,
    log: PathLike | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Label every spectrum of ``inputs`` with ``model`` into the catalogue ``output``.

    Args:
        model: a fitted estimator.
        inputs: dataset files (already expanded, see :func:`expand_inputs`), in
            catalogue order.
        output: a catalogue file (.fits, .csv, .parquet; its parts go to
            ``OUTPUT.parts/``) or a folder (a name without extension or an
            existing folder: the parts are the catalogue, a Parquet dataset).
        options: the model's predict options.
        chunk_size: rows per part (default :data:`DEFAULT_CHUNK`; a resumed run
            keeps the size its parts were made with).
        workers: >= 1: a Dask LocalCluster of this many single-threaded processes;
            0: this process.
        scheduler: address of an existing Dask scheduler (instead of ``workers``).
        ood: a picklable factory of the similarity-map scorer (``map_ood_score``).
        predict: ``predict(batch, options, first_row=...)`` instead of
            ``model.predict`` (this process only: the per-star fit).
        run_key: what else makes results differ (e.g. the similarity map, the start
            of a per-star fit); part of the parts' identity.
        meta: further catalogue metadata (FITS cards of <= 8 characters).
        source_column: keep the ``source`` column (the input file's name) in a
            catalogue file (always kept in a folder output).
        keep_parts: keep ``OUTPUT.parts/`` after writing a catalogue file (a later
            run with more files then labels only those).
        progress: called with (spectra just finished, total spectra) after each
            chunk; the first call counts what earlier runs did.
        log: JSON-lines file: one record per chunk (rows, seconds, worker).
        overwrite: replace an existing catalogue of other inputs, model or options.

    Returns:
        the counts of the catalogue (``n_spectra``, ``n_not_processed``,
        ``n_outside_range``, ``n_no_err`` and, where they apply, ``n_ood``,
        ``n_uncalibrated``), plus ``chunks`` (total), ``chunks_run`` (this run),
        ``rows_run``, ``seconds`` and ``written`` (False when the catalogue was
        already up to date).
    """
    t_start = time.perf_counter()
    output = Path(output)
    if parts_folder(output) != output:
        check_output(output, overwrite=True, suffixes=CATALOGUE_SUFFIXES)
    run = RunSettings(
        output=output,
        options=model.predict_options() if options is None else options,
        chunk_size=chunk_size,
        workers=workers,
        scheduler=scheduler,
        ood=ood,
        predict=predict,
        run_key=run_key,
        meta=meta,
        source_column=source_column,
        keep_parts=keep_parts,
        progress=progress,
        log=log,
        overwrite=overwrite,
    )
    if run.distributed and run.predict is not None:
        raise StarlabelInputError(
            "--workers/--scheduler: the per-star fit runs in this process only"
        )
    described = describe_inputs(model, [Path(p) for p in inputs])
    return _run_staged(model, described, run, t_start)


def _run_staged(
    model: Any, described: list[InputFile], run: RunSettings, t_start: float
) -> dict[str, Any]:
    """Save the model to fingerprint it, check, then run holding the parts' lock
    (a parts folder this run created is removed again if it fails)."""
    store_dir = run.store_dir
    with tempfile.TemporaryDirectory(prefix="starlabel-model-") as saved:
        model.save(Path(saved) / "model")
        model_fp = directory_fingerprint(Path(saved) / "model")
        key = run.identity(model_fp, model.kind)
        # every check before anything is written: a refused run leaves no trace
        old, same_run, chunk_size = _settle(
            PartStore(store_dir, owner=run.output).peek(), key, run.chunk_size
        )
        check_existing(run.output, run.folder, old, same_run, described, run.overwrite)
        created = not store_dir.exists()
        try:
            with PartStore(store_dir, owner=run.output) as store:
                model_dir = store.stage_model(Path(saved) / "model", model_fp)
                return _predict_locked(
                    store,
                    model,
                    described,
                    run,
                    key=key,
                    chunk_size=chunk_size,
                    model_dir=model_dir,
                    t_start=t_start,
                )
        except BaseException:
            if created and store_dir.is_dir():
                PartStore(store_dir, owner=run.output).remove(only_if_no_parts=True)
            raise


def _settle(
    old: dict[str, Any], key: dict[str, Any], chunk_size: int | None
) -> tuple[dict[str, Any], bool, int]:
    """(manifest, same run?, chunk size): a resumed run keeps its chunk size."""
    same_run = old.get("run") == key
    if chunk_size is None:
        chunk_size = (
            int(old.get("chunk_size", DEFAULT_CHUNK)) if same_run else DEFAULT_CHUNK
        )
    if chunk_size < 1:
        raise ValueError(f"--chunk-size: expected >= 1, got {chunk_size}")
    return old, same_run and old.get("chunk_size") == chunk_size, chunk_size


def _predict_locked(
    store: PartStore,
    model: Any,
    described: list[InputFile],
    run: RunSettings,
    *,
    key: dict[str, Any],
    chunk_size: int,
    model_dir: Path,
    t_start: float,
) -> dict[str, Any]:
    """The run itself, holding the parts folder's lock (checks made again: another
    run may have written there since)."""
    old, same_run, chunk_size = _settle(store.manifest() or {}, key, chunk_size)
    check_existing(run.output, run.folder, old, same_run, described, run.overwrite)
    chunks = plan_chunks(described, chunk_size)
    manifest = _start_manifest(store, key, old, same_run, chunk_size, chunks, described)
    done = store.part_names()
    todo = [c for c in chunks if c.part not in done]
    total = sum(c.rows for c in chunks)
    if run.progress is not None:
        run.progress(total - sum(c.rows for c in todo), total)
    cat_meta = catalogue_meta(model, run.meta) | {
        "SLINPUT": described[0].name
        if len(described) == 1
        else f"{len(described)} files",
        "SLINFP": described[0].fingerprint if len(described) == 1 else "",
    }
    rows_run = run_chunks(
        model,
        described,
        todo,
        store,
        run,
        model_dir=model_dir,
        model_fp=key["model"],
        meta=cat_meta,
        total=total,
    )
    counts: dict[str, Any] = {}
    for c in chunks:
        add_counts(counts, store.part_counts(c.part))
    resumed = not todo and same_run and old.get("inputs") == manifest["inputs"]
    written = _finish_output(store, run, chunks, manifest, cat_meta, resumed=resumed)
    counts |= {
        "chunks": len(chunks),
        "chunks_run": len(todo),
        "rows_run": rows_run,
        "seconds": time.perf_counter() - t_start,
        "written": written,
    }
    return counts


def _start_manifest(
    store: PartStore,
    key: dict[str, Any],
    old: dict[str, Any],
    same_run: bool,
    chunk_size: int,
    chunks: list[Chunk],
    described: list[InputFile],
) -> dict[str, Any]:
    """Drop the parts this run cannot use and write its manifest (returned)."""
    if not same_run:
        store.remove_parts(keep=set())  # another model/options: start afresh
    else:
        store.remove_parts(keep={c.part for c in chunks})  # changed/dropped inputs
    manifest = {
        "run": key,
        "chunk_size": chunk_size,
        "inputs": inputs_doc(described),
        "output": old.get("output") if same_run else None,
    }
    store.write_manifest(manifest)
    return manifest


def _finish_output(
    store: PartStore,
    run: RunSettings,
    chunks: list[Chunk],
    manifest: dict[str, Any],
    cat_meta: dict[str, str],
    *,
    resumed: bool,
) -> bool:
    """Write the catalogue file from the parts unless the one there is already
    this run's, up to date (``resumed``: nothing ran, same run and inputs); drop
    the parts unless kept. Whether the catalogue is written (a folder always is)."""
    if run.folder:
        return True
    written = False
    up_to_date = (
        resumed
        and (manifest.get("output") or {}).get("token") is not None
        and output_token(run.output) == manifest["output"]["token"]
    )
    if not up_to_date:
        write_output(store, chunks, run.output, manifest, cat_meta, run.source_column)
        written = True
    if not run.keep_parts:
        store.remove()
    return written
