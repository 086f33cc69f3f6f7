"""The catalogue file of a survey run: the run token it carries, the checks before
a run may replace it, and writing it from the parts in input order."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from ..errors import StarlabelInputError
from .catalogue import catalogue_format, write_catalogue_stream
from .parts import Chunk, InputFile, PartStore, iter_ordered

__all__ = ["check_existing", "output_token", "write_output"]


def output_token(path: Path) -> str | None:
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

        token = read_csv_meta(path).get("SLRUN")
        if token:
            return token
        st = path.stat()  # a CSV of an earlier version: no metadata
        return f"csv:{st.st_size}:{st.st_mtime_ns}"
    except (OSError, ValueError, KeyError, IndexError):
        return None


def check_existing(
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
    found = output_token(output)
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


def write_output(
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
