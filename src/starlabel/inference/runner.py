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

import glob
import json
import secrets
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import check_output
from .._typing import PathLike
from ..errors import StarlabelInputError
from ..spectra.io.hdf5 import DatasetReader, dataset_fingerprint
from .catalogue import CATALOGUE_SUFFIXES, catalogue_format, write_catalogue_stream
from .chunks import ChunkJob, ChunkResult, label_chunk, worker_name
from .labelling import add_counts, catalogue_meta
from .parts import (
    MANIFEST,
    Chunk,
    InputFile,
    PartStore,
    directory_fingerprint,
    inputs_doc,
    iter_ordered,
    plan_chunks,
)

__all__ = [
    "DEFAULT_CHUNK",
    "expand_inputs",
    "has_unfinished_run",
    "parts_folder",
    "predict_survey",
]

#: Rows per part: resume granularity, unit of work of a worker, and what the driver
#: holds of a result at a time (the model reads ``batch_size`` spectra at once).
DEFAULT_CHUNK = 8192


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


def _describe_inputs(model: Any, paths: list[Path]) -> list[InputFile]:
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


def _output_token(path: Path) -> str | None:
    """The run token stored in a catalogue file we wrote (FITS card, Parquet
    metadata, CSV comment line; a CSV of an earlier version: its size and mtime)."""
    try:
        fmt = catalogue_format(path)
        if fmt == "fits":
            from astropy.io import fits

            return str(fits.getheader(path, 1).get("SLRUN", "")) or None
        if fmt == "parquet":
            import pyarrow.parquet as pq

            meta = pq.read_schema(path).metadata or {}
            return meta.get(b"SLRUN", b"").decode() or None
        from .catalogue import read_csv_meta

        if read_csv_meta(path).get("SLRUN"):
            return read_csv_meta(path)["SLRUN"]
        st = path.stat()  # a CSV of an earlier version: no metadata
        return f"csv:{st.st_size}:{st.st_mtime_ns}"
    except (OSError, ValueError, KeyError, IndexError):
        return None


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


def parts_folder(output: PathLike) -> Path:
    """Where the parts of a run into ``output`` go: the folder itself for a folder
    output (a name without extension, or an existing folder), else
    ``OUTPUT.parts/`` beside the catalogue file.

    Example:
        >>> parts_folder("cat.fits").name, parts_folder("catalogue").name
        ('cat.fits.parts', 'catalogue')
    """
    output = Path(output)
    if output.is_dir() or not output.suffix:
        return output
    return output.with_name(output.name + ".parts")


def has_unfinished_run(output: PathLike) -> bool:
    """Whether a run into ``output`` left parts to resume (its manifest exists)."""
    return (parts_folder(output) / MANIFEST).is_file()


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
    store_dir = parts_folder(output)
    folder = store_dir == output
    if not folder:
        check_output(output, overwrite=True, suffixes=CATALOGUE_SUFFIXES)
    if options is None:
        options = model.predict_options()
    if (workers or scheduler) and predict is not None:
        raise StarlabelInputError(
            "--workers/--scheduler: the per-star fit runs in this process only"
        )
    paths = [Path(p) for p in inputs]
    described = _describe_inputs(model, paths)
    with tempfile.TemporaryDirectory(prefix="starlabel-model-") as saved:
        model.save(Path(saved) / "model")
        model_fp = directory_fingerprint(Path(saved) / "model")
        key = {
            "model": model_fp,
            "kind": model.kind,
            "options": repr(options),
            "extra": run_key or {},
        }
        # every check before anything is written: a refused run leaves no trace
        old, same_run, chunk_size = _settle(
            PartStore(store_dir, owner=output).peek(), key, chunk_size
        )
        _check_existing(output, folder, old, same_run, described, overwrite)
        created = not store_dir.exists()
        try:
            with PartStore(store_dir, owner=output) as store:
                model_dir = store.stage_model(Path(saved) / "model", model_fp)
                return _predict_locked(
                    store,
                    model,
                    options,
                    described,
                    output,
                    folder=folder,
                    key=key,
                    chunk_size=chunk_size,
                    model_dir=model_dir,
                    model_fp=model_fp,
                    overwrite=overwrite,
                    ood=ood,
                    predict=predict,
                    meta=meta,
                    workers=workers,
                    scheduler=scheduler,
                    progress=progress,
                    log=log,
                    source_column=source_column,
                    keep_parts=keep_parts,
                    t_start=t_start,
                )
        except BaseException:
            if created and store_dir.is_dir():
                PartStore(store_dir, owner=output).remove(only_if_no_parts=True)
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
    options: Any,
    described: list[InputFile],
    output: Path,
    *,
    folder: bool,
    key: dict[str, Any],
    chunk_size: int | None,
    model_dir: Path,
    model_fp: str,
    overwrite: bool,
    ood: Any,
    predict: Any,
    meta: dict[str, str] | None,
    workers: int,
    scheduler: str | None,
    progress: Callable[[int, int], None] | None,
    log: PathLike | None,
    source_column: bool,
    keep_parts: bool,
    t_start: float,
) -> dict[str, Any]:
    """The run itself, holding the parts folder's lock (checks made again: another
    run may have written there since)."""
    old, same_run, chunk_size = _settle(store.manifest() or {}, key, chunk_size)
    _check_existing(output, folder, old, same_run, described, overwrite)
    chunks = plan_chunks(described, chunk_size)
    wanted = {c.part for c in chunks}
    if not same_run:
        store.remove_parts(keep=set())  # another model/options: start afresh
    else:
        store.remove_parts(keep=wanted)  # parts of changed or dropped inputs
    manifest = {
        "run": key,
        "chunk_size": chunk_size,
        "inputs": inputs_doc(described),
        "output": old.get("output") if same_run else None,
    }
    store.write_manifest(manifest)
    done = store.part_names()
    todo = [c for c in chunks if c.part not in done]
    total = sum(c.rows for c in chunks)
    if progress is not None:
        progress(total - sum(c.rows for c in todo), total)
    cat_meta = catalogue_meta(model, meta) | {
        "SLINPUT": described[0].name
        if len(described) == 1
        else f"{len(described)} files",
        "SLINFP": described[0].fingerprint if len(described) == 1 else "",
    }
    rows_run = _run_chunks(
        model,
        options,
        described,
        todo,
        store,
        model_dir=model_dir,
        model_fp=model_fp,
        meta=cat_meta,
        ood=ood,
        predict=predict,
        workers=workers,
        scheduler=scheduler,
        progress=progress,
        total=total,
        log=log,
    )
    counts: dict[str, Any] = {}
    for c in chunks:
        add_counts(counts, store.part_counts(c.part))
    written = False
    if not folder:
        up_to_date = (
            not todo
            and same_run
            and old.get("inputs") == manifest["inputs"]
            and (manifest.get("output") or {}).get("token") is not None
            and _output_token(output) == manifest["output"]["token"]
        )
        if not up_to_date:
            _write_output(store, chunks, output, manifest, cat_meta, source_column)
            written = True
        if not keep_parts:
            store.remove()
    counts |= {
        "chunks": len(chunks),
        "chunks_run": len(todo),
        "rows_run": rows_run,
        "seconds": time.perf_counter() - t_start,
        "written": written or folder,
    }
    return counts


def _check_existing(
    output: Path,
    folder: bool,
    old: dict[str, Any],
    same_run: bool,
    described: list[InputFile],
    overwrite: bool,
) -> None:
    """Refuse to replace a catalogue this run did not make, unless ``overwrite``."""
    if overwrite:
        return
    if folder:
        if old and not same_run:
            raise StarlabelInputError(
                "holds a catalogue of another model, other options or another chunk "
                "size; pass --overwrite to replace it",
                path=output,
            )
        _check_inputs_kept(output, old, described)
        return
    if not (output.exists() or output.is_symlink()):
        return
    recorded = old.get("output") or {}
    found = _output_token(output)
    if found is None or found not in (recorded.get("token"), recorded.get("pending")):
        raise StarlabelInputError("exists; pass --overwrite to replace it", path=output)
    if not same_run:
        raise StarlabelInputError(
            "exists, made with another model, other options or another chunk size; "
            "pass --overwrite to replace it",
            path=output,
        )
    _check_inputs_kept(output, old, described)


def _check_inputs_kept(
    output: Path, old: dict[str, Any], described: list[InputFile]
) -> None:
    """An update may add files; it may not drop or change the files of the
    catalogue it updates."""
    now = {f.name: f.key for f in described}
    for f in old.get("inputs") or []:
        if f["name"] not in now:
            raise StarlabelInputError(
                f"holds the stars of {f['name']}, which this run does not label; "
                "pass --overwrite to replace the catalogue",
                path=output,
            )
        if now[f["name"]] != f["key"]:
            raise StarlabelInputError(
                f"was made from another version of {f['name']} (the file changed); "
                "pass --overwrite to label it again",
                path=output,
            )


def _run_chunks(
    model: Any,
    options: Any,
    inputs: list[InputFile],
    todo: list[Chunk],
    store: PartStore,
    *,
    model_dir: Path,
    model_fp: str,
    meta: dict[str, str],
    ood: Any,
    predict: Any,
    workers: int,
    scheduler: str | None,
    progress: Callable[[int, int], None] | None,
    total: int,
    log: PathLike | None,
) -> int:
    """Run the chunks not done yet; write each part as it finishes. Returns rows."""
    logger = _Log(log)
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
        if progress is not None:
            progress(chunk.rows, total)

    try:
        if not todo:
            return 0
        if workers or scheduler:
            from .distributed import dask_client, run_on_dask

            by_part = {c.part: c for c in todo}
            jobs = (
                ChunkJob(
                    model_dir=str(model_dir.absolute()),
                    model_fp=model_fp,
                    options=options,
                    path=inputs[c.source].path,
                    source=inputs[c.source].name,
                    start=c.start,
                    stop=c.stop,
                    part=c.part,
                    meta=meta,
                    ood=ood,
                    threads=1 if not scheduler else None,
                )
                for c in todo
            )
            with dask_client(workers, scheduler) as client:
                for result in run_on_dask(client, jobs):
                    finished(result, by_part[result.part])
        else:
            if predict is None:  # the staged copy, as workers and resumed runs use
                from ..models import load

                model = load(model_dir)
            scorer = ood() if ood is not None else None
            for c in todo:
                t0 = time.perf_counter()
                table, counts = label_chunk(
                    model,
                    options,
                    inputs[c.source].path,
                    inputs[c.source].name,
                    c.start,
                    c.stop,
                    meta=meta,
                    predict=predict,
                    ood_score=scorer,
                )
                finished(
                    ChunkResult(
                        c.part, table, counts, time.perf_counter() - t0, worker_name()
                    ),
                    c,
                )
    finally:
        logger.close()
    return rows


def _write_output(
    store: PartStore,
    chunks: list[Chunk],
    output: Path,
    manifest: dict[str, Any],
    meta: dict[str, str],
    source_column: bool,
) -> None:
    """Write the catalogue file from the parts. Its token goes into the manifest as
    ``pending`` first and is confirmed after: a FITS or Parquet file (which carries
    the token in its metadata) is still recognised as ours after a crash between the
    two."""
    token = secrets.token_hex(8)
    store.write_manifest(
        dict(manifest) | {"output": (manifest.get("output") or {}) | {"pending": token}}
    )

    def pieces():
        for piece in iter_ordered(store, chunks):
            yield piece if source_column else piece.drop_columns(["source"])

    meta = dict(meta) | {"SLRUN": token}
    write_catalogue_stream(pieces, output, meta=meta, overwrite=True)
    store.write_manifest(
        dict(manifest) | {"output": {"name": output.name, "token": token}}
    )
