"""Which outputs starlabel wrote: the one ownership rule for ``--overwrite``.

An existing output path is replaced only when starlabel wrote it and the user asked
(``--overwrite``); anything else there is never replaced or deleted, with the flag or
without. starlabel recognises its own results by a marker inside them:

* HDF5 (datasets): root attribute ``format`` beginning ``starlabel`` or ``creator``;
* FITS (catalogues): a ``CREATOR = 'starlabel ...'`` card in the primary header (or
  the ``SLRUN`` card in the table header of catalogues of earlier versions);
* Parquet: schema metadata ``creator`` (or ``starlabel_*`` / ``SLRUN`` keys);
* CSV and other text: a first line ``# written by starlabel ...``; HTML: a
  ``<meta name="generator" content="starlabel ...">``;
* PNG: a ``Software`` text chunk beginning ``starlabel``;
* safetensors: ``format`` or ``creator`` in the header's metadata;
* folders: a marker file (:data:`FOLDER_MARKER`, a model's ``model.json``, a tune
  folder's or a catalogue folder's manifest, the demo's marker).

The file's content decides, never its name: a user's text file called ``x.h5`` is
not ours. :func:`starlabel._output_checks.check_output` and ``check_output_dir``
apply the rule before a command does any work.
"""

from __future__ import annotations

import json
import re
import struct
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ._typing import PathLike

__all__ = [
    "FOLDER_MARKER",
    "FOLDER_MARKERS",
    "creator",
    "folder_command",
    "folder_files",
    "is_ours",
    "text_marker",
    "write_folder_marker",
]

FOLDER_MARKER = "_starlabel_output.json"
# Files whose presence (with a starlabel format inside) marks a folder as ours.
FOLDER_MARKERS = (
    FOLDER_MARKER,
    "model.json",
    "_starlabel_tune.json",
    "_starlabel.json",
    ".starlabel-demo",
)
_HEAD = 8192


def creator() -> str:
    """``starlabel <version>``: the value of every marker."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"starlabel {version('starlabel')}"
    except PackageNotFoundError:
        return "starlabel"


def text_marker() -> str:
    """The first line of a text output (CSV, TOML, plain text)."""
    return f"# written by {creator()}"


def _ours(value: Any) -> bool:
    return isinstance(value, str) and value.lower().startswith("starlabel")


# ---------------------------------------------------------------- sniffers
def _hdf5(path: Path) -> bool:
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            return _ours(_str(h5.attrs.get("format"))) or _ours(
                _str(h5.attrs.get("creator"))
            )
    except (OSError, ValueError):
        return False


def _str(value: Any) -> Any:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _fits(path: Path) -> bool:
    """``CREATOR = 'starlabel ...'`` in the primary header, or the run card
    ``SLRUN`` of a predicted catalogue (in its table header, as earlier versions
    wrote it)."""
    from astropy.io import fits

    try:
        with fits.open(path, memmap=False, lazy_load_hdus=True) as hdul:
            if _ours(hdul[0].header.get("CREATOR")):
                return True
            return len(hdul) > 1 and "SLRUN" in hdul[1].header
    except (OSError, ValueError, IndexError, TypeError):
        return False


def _parquet(path: Path) -> bool:
    try:
        import pyarrow.parquet as pq

        meta = pq.read_schema(path).metadata or {}
    except Exception:  # noqa: BLE001 (any unreadable file: not ours)
        return False
    for key, value in meta.items():
        k = key.decode("utf-8", "replace")
        if k.startswith("starlabel_") or k == "SLRUN":
            return True
        if k == "creator" and _ours(value.decode("utf-8", "replace")):
            return True
    return False


def _png(head: bytes, path: Path) -> bool:
    data = head if len(head) < _HEAD else path.read_bytes()[: 1 << 20]
    i = 8
    while i + 8 <= len(data):
        (length,) = struct.unpack(">I", data[i : i + 4])
        kind = data[i + 4 : i + 8]
        body = data[i + 8 : i + 8 + length]
        if kind in (b"tEXt", b"iTXt"):
            keyword, _, rest = body.partition(b"\x00")
            if keyword == b"Software":
                text = rest if kind == b"tEXt" else rest.split(b"\x00", 3)[-1]
                return _ours(text.lstrip(b"\x00").decode("latin-1"))
        if kind in (b"IDAT", b"IEND"):
            return False
        i += 12 + length
    return False


def _safetensors(head: bytes) -> bool:
    (n,) = struct.unpack("<Q", head[:8])
    if n > 1 << 24:
        return False
    try:
        header = json.loads(head[8 : 8 + n].decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return False
    meta = header.get("__metadata__") or {} if isinstance(header, dict) else {}
    return _ours(meta.get("format")) or _ours(meta.get("creator"))


def _text(head: bytes) -> bool:
    text = head.decode("utf-8", "replace").lstrip("\ufeff")
    first = text.lstrip().split("\n", 1)[0]
    if re.match(r"#\s*written by starlabel\b", first):
        return True
    generator = r"<meta\s+name=[\"']generator[\"']\s+content=[\"']starlabel"
    return re.search(generator, text, re.I) is not None


def _file_is_ours(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(_HEAD)
    except OSError:
        return False
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return _hdf5(path)
    if head.startswith(b"SIMPLE  ="):
        return _fits(path)
    if head.startswith(b"PAR1"):
        return _parquet(path)
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return _png(head, path)
    if len(head) > 9 and head[8:9] == b"{" and _safetensors(head):
        return True
    return _text(head)


def _folder_is_ours(path: Path) -> bool:
    for name in FOLDER_MARKERS:
        marker = path / name
        if not marker.is_file() or marker.is_symlink():
            continue
        if name == ".starlabel-demo":
            return True
        try:
            obj = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(obj, dict):
            continue
        if _ours(obj.get("format")) or _ours(obj.get("creator")):
            return True
        if name == "_starlabel_tune.json" and "study" in obj:  # earlier versions
            return True
    return False


def is_ours(path: PathLike) -> bool:
    """True when ``path`` (a file or a folder) carries starlabel's marker.

    A symbolic link is never ours (replacing it would write through it).
    """
    path = Path(path)
    if path.is_symlink():
        return False
    if path.is_dir():
        return _folder_is_ours(path)
    if path.is_file():
        return _file_is_ours(path)
    return False


# ------------------------------------------------------------ folder marker
def folder_files(path: PathLike) -> set[str]:
    """Names (relative, ``/``-separated) of the files the marker of folder
    ``path`` says starlabel wrote, the marker itself included."""
    path = Path(path)
    try:
        obj = json.loads((path / FOLDER_MARKER).read_text(encoding="utf-8"))
        files = obj.get("files", []) if isinstance(obj, dict) else []
    except (OSError, ValueError):
        files = []
    return {f for f in files if isinstance(f, str)} | {FOLDER_MARKER}


def write_folder_marker(folder: PathLike, command: str) -> Path:
    """Write :data:`FOLDER_MARKER` into ``folder`` listing every file there now.

    Written last, into a staged folder, it also says the folder is complete.
    """
    folder = Path(folder)
    files = sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and p.name != FOLDER_MARKER
    )
    record = {
        "format": "starlabel-output",
        "creator": creator(),
        "command": command,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": files,
    }
    from ._atomic import atomic_path  # it imports the checks built on this module

    target = folder / FOLDER_MARKER
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return target


def folder_command(path: PathLike) -> str | None:
    """The command recorded in the folder marker of ``path`` (None: no marker)."""
    try:
        obj = json.loads((Path(path) / FOLDER_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(obj, dict) or not _ours(obj.get("format")):
        return None
    return str(obj.get("command", ""))
