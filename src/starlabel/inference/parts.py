"""The parts folder of a resumable catalogue: one Parquet file per chunk of input rows,
a manifest, the copy of the model that made them and a lock.

Layout (``STORE`` is ``CATALOGUE.parts/`` beside a catalogue file, or the output
folder itself for ``-o folder/``)::

    STORE/_starlabel.json        manifest: what made the parts (model fingerprint,
                                 options, chunk size), the inputs of the last run and
                                 the catalogue file written from them
    STORE/_starlabel.lock        held (flock) while a run writes here; removed
                                 (while still held) when the run ends
    STORE/_model/                the model the parts came from (workers load it)
    STORE/part-<stem>-<key>-<first row>.parquet
                                 rows [first, first + chunk) of one input file; <key>
                                 names the file's content (fingerprint, size, mtime)

A part is written atomically, so a part that exists is complete: a rerun skips it.
Names starting with ``_`` or ``.`` are ignored by pyarrow and Dask, so ``-o folder/``
is a Parquet dataset as it stands. Only entries of these names are ever removed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._atomic import atomic_path, remove_stale_temporaries
from .._typing import PathLike
from ..errors import StarlabelInputError

__all__ = [
    "Chunk",
    "InputFile",
    "PartStore",
    "directory_fingerprint",
    "read_parts_table",
    "MANIFEST",
]

MANIFEST = "_starlabel.json"
LOCK = "_starlabel.lock"
MODEL = "_model"
FORMAT = "starlabel-catalogue-parts"
VERSION = 1
_PART = re.compile(r"^part-[A-Za-z0-9_.-]{0,40}-[0-9a-f]{16}-\d{10}\.parquet$")
_TEMP = re.compile(r"^\.(part-.+?\.parquet|_starlabel\.json)\.")


def directory_fingerprint(path: PathLike) -> str:
    """``sha256:`` of a model directory's files (names and bytes; the ``created``
    time in ``model.json`` left out, so saving the same model twice gives the same
    fingerprint)."""
    h = hashlib.sha256()
    for file in sorted(Path(path).iterdir()):
        if not file.is_file():
            continue
        data = file.read_bytes()
        if file.name == "model.json":
            doc = json.loads(data)
            doc.pop("created", None)
            data = json.dumps(doc, sort_keys=True).encode()
        h.update(file.name.encode() + b"\0" + hashlib.sha256(data).digest())
    return "sha256:" + h.hexdigest()


@dataclass(frozen=True)
class InputFile:
    """One dataset file of a run: where, what (fingerprint) and how many spectra."""

    path: str
    name: str
    fingerprint: str
    n: int
    key: str

    @classmethod
    def describe(cls, path: PathLike, fingerprint: str, n: int) -> InputFile:
        """``key``: 16 hex digits of the content fingerprint, size, mtime and name
        (any change of the file, even of one flux value, gives a new key)."""
        p = Path(path)
        st = p.stat()
        key = hashlib.sha256(
            f"{fingerprint}|{st.st_size}|{st.st_mtime_ns}|{p.name}".encode()
        ).hexdigest()[:16]
        return cls(str(p.absolute()), p.name, fingerprint, n, key)


@dataclass(frozen=True)
class Chunk:
    """Rows ``[start, stop)`` of input ``source`` (index into the run's inputs)."""

    source: int
    start: int
    stop: int
    part: str  # file name of its part

    @property
    def rows(self) -> int:
        return self.stop - self.start


def _stem(name: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(name).stem)
    return stem[:40]


def plan_chunks(inputs: list[InputFile], chunk_size: int) -> list[Chunk]:
    """Every input's rows in chunks of ``chunk_size``, in input order."""
    out = []
    for i, f in enumerate(inputs):
        for start in range(0, f.n, chunk_size):
            part = f"part-{_stem(f.name)}-{f.key}-{start:010d}.parquet"
            out.append(Chunk(i, start, min(start + chunk_size, f.n), part))
    return out


class PartStore:
    """The parts folder (module docstring); use as a context manager (holds the lock).

    Args:
        root: the folder (made if missing).
        owner: the output the parts are for (named in errors).

    Raises:
        StarlabelInputError: the folder exists and is not a starlabel parts folder
            (files in it but no manifest), or another run holds its lock.
    """

    def __init__(self, root: PathLike, *, owner: PathLike) -> None:
        self.root = Path(root)
        self.owner = Path(owner)
        self._lock_fh: Any = None

    # ------------------------------------------------------------ lifecycle
    def _check_ours(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise StarlabelInputError(
                "exists and is not a folder; the catalogue's parts go there "
                "(move it away)",
                path=self.root,
            )
        if self.root.is_dir() and not (self.root / MANIFEST).exists():
            foreign = [e.name for e in self.root.iterdir() if e.name != LOCK]
            if foreign:
                raise StarlabelInputError(
                    f"folder holds files that starlabel did not write ({foreign[0]}, ...); "
                    "give an empty or new folder",
                    path=self.root,
                )

    def __enter__(self) -> PartStore:
        self._check_ours()
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock_fh = self._acquire_lock()
        self._sweep_temporaries()
        return self

    def _acquire_lock(self) -> Any:
        """The open, flocked lock file. A run that finishes removes the file while
        it still holds it, so a lock won on a file that is no longer at the path
        (removed in between) is worthless: retry on the file now there."""
        path = self.root / LOCK
        for _ in range(100):
            fh = open(path, "a+")  # noqa: SIM115 (held until __exit__)
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.close()
                raise StarlabelInputError(
                    "another starlabel run is writing this catalogue; wait for it "
                    "to finish or stop it",
                    path=self.owner,
                ) from None
            try:
                current = os.stat(path)
            except FileNotFoundError:
                current = None
            mine = os.fstat(fh.fileno())
            if current is not None and (current.st_dev, current.st_ino) == (
                mine.st_dev,
                mine.st_ino,
            ):
                return fh
            fh.close()
        raise StarlabelInputError(
            "could not take the lock of this catalogue (other runs keep finishing "
            "and starting); try again",
            path=self.owner,
        )

    def __exit__(self, *exc: Any) -> None:
        """Release the lock; the lock file goes (removed while still held, see
        :meth:`_acquire_lock`), so a finished output holds only what it is."""
        if self._lock_fh is not None:
            with contextlib.suppress(OSError):
                (self.root / LOCK).unlink()
            self._lock_fh.close()
            self._lock_fh = None

    def _sweep_temporaries(self) -> None:
        """Remove temporaries of killed runs (only of our own part names)."""
        targets = {
            m.group(1) for e in os.scandir(self.root) if (m := _TEMP.match(e.name))
        }
        for name in targets:
            remove_stale_temporaries(self.root / name)

    # ------------------------------------------------------------- manifest
    def manifest(self) -> dict[str, Any] | None:
        """The manifest, or None when there is none (a new folder)."""
        path = self.root / MANIFEST
        if not path.exists():
            return None
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise StarlabelInputError(
                f"unreadable manifest ({exc}); remove the folder to start again",
                path=path,
            ) from None
        if doc.get("format") != FORMAT:
            raise StarlabelInputError("not a starlabel parts manifest", path=path)
        if doc.get("version", 0) > VERSION:
            raise StarlabelInputError(
                f"parts made by a newer starlabel (version {doc.get('version')}); "
                "upgrade, or write to another output",
                path=path,
            )
        return doc

    def write_manifest(self, doc: dict[str, Any]) -> None:
        body = {"format": FORMAT, "version": VERSION} | doc
        with atomic_path(self.root / MANIFEST) as tmp:
            tmp.write_text(json.dumps(body, indent=1), encoding="utf-8")

    # ---------------------------------------------------------------- model
    def stage_model(self, saved: Path, fingerprint: str) -> Path:
        """Copy the saved model ``saved`` into the folder (workers load it from
        there) unless the copy there has the same ``fingerprint``."""
        target = self.root / MODEL
        if target.is_dir() and directory_fingerprint(target) == fingerprint:
            return target
        fresh = self.root / f".{MODEL}.{secrets.token_hex(4)}.new"
        try:
            shutil.copytree(saved, fresh)
            if target.exists():
                shutil.rmtree(target)
            os.rename(fresh, target)
        finally:
            if fresh.exists():
                shutil.rmtree(fresh, ignore_errors=True)
        return target

    def peek(self) -> dict[str, Any]:
        """The manifest without making or locking anything ({} when there is none);
        a folder of someone else's files is refused here already."""
        if not self.root.exists():
            return {}
        self._check_ours()
        return self.manifest() or {}

    # ---------------------------------------------------------------- parts
    def part_names(self) -> set[str]:
        """Names of the complete parts in the folder."""
        return {e.name for e in os.scandir(self.root) if _PART.match(e.name)}

    def write_part(self, name: str, table: Any) -> Path:
        """Write one part (a pyarrow table) atomically."""
        import pyarrow.parquet as pq

        with atomic_path(self.root / name) as tmp:
            pq.write_table(table, tmp)
        return self.root / name

    def read_part(self, name: str) -> Any:
        import pyarrow.parquet as pq

        return pq.read_table(self.root / name)

    def part_counts(self, name: str) -> dict[str, int]:
        """The counts stored with a part (schema metadata; no data read)."""
        import pyarrow.parquet as pq

        meta = pq.read_schema(self.root / name).metadata or {}
        return json.loads(meta.get(b"starlabel_counts", b"{}"))

    def remove_parts(self, keep: set[str]) -> int:
        """Remove our parts whose names are not in ``keep``; returns how many."""
        gone = 0
        for name in self.part_names() - keep:
            with contextlib.suppress(FileNotFoundError):
                (self.root / name).unlink()
                gone += 1
        return gone

    def remove(self, *, only_if_no_parts: bool = False) -> bool:
        """Remove the whole folder if it holds only what we write (and, with
        ``only_if_no_parts``, no finished part); True if removed."""
        ours = {MANIFEST, LOCK, MODEL}
        entries = [e.name for e in os.scandir(self.root)]
        if any(
            n not in ours and not _PART.match(n) and not n.startswith(".")
            for n in entries
        ):
            return False
        if only_if_no_parts and any(_PART.match(n) for n in entries):
            return False
        self.__exit__()
        shutil.rmtree(self.root, ignore_errors=True)
        return True


def inputs_doc(inputs: list[InputFile]) -> list[dict[str, Any]]:
    return [dataclasses.asdict(f) for f in inputs]


def iter_ordered(store: PartStore, chunks: list[Chunk]) -> Iterator[Any]:
    """The parts of ``chunks`` in catalogue order, one at a time."""
    for chunk in chunks:
        table = store.read_part(chunk.part)
        yield table.replace_schema_metadata(None)


def read_parts_table(root: PathLike) -> Any:
    """A catalogue folder as one astropy table, rows in the input order of the run
    that made it (the manifest names the inputs and chunk size).

    Raises:
        StarlabelInputError: a part of the manifest's inputs is missing (the run was
            interrupted: rerun it to finish the catalogue).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .catalogue import arrow_to_table

    root = Path(root)
    doc = PartStore(root, owner=root).manifest() or {}
    inputs = [InputFile(**f) for f in doc.get("inputs", [])]
    chunks = plan_chunks(inputs, int(doc.get("chunk_size", 1)))
    missing = [c.part for c in chunks if not (root / c.part).exists()]
    if missing or not chunks:
        raise StarlabelInputError(
            f"catalogue folder is incomplete ({len(missing)} of {len(chunks)} parts "
            "missing); rerun the predict command to finish it",
            path=root,
        )
    store = PartStore(root, owner=root)
    table = arrow_to_table(pa.concat_tables(list(iter_ordered(store, chunks))))
    meta = pq.read_schema(root / chunks[0].part).metadata or {}
    table.meta.update(
        {
            k.decode(): v.decode()
            for k, v in meta.items()
            if not k.startswith(b"starlabel_")
        }
    )
    return table
