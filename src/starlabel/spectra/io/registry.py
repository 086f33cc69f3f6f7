"""Reader registry: ``@register_reader`` (the specutils ``data_loader`` pattern).

A reader is a generator ``reader(path, **options)`` yielding :class:`RawSpectrum`
objects, or :class:`StarlabelInputError` instances for single stars that could not
be read (so one bad row does not lose the rest of the file). Problems with the whole
file are raised.
"""

from __future__ import annotations

import functools
import glob
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..._typing import PathLike
from ...errors import StarlabelInputError
from ..raw import RawSpectrum

__all__ = [
    "register_reader",
    "READERS",
    "read_raw",
    "iter_raw",
    "expand_paths",
    "Rejected",
]

ReaderFn = Callable[..., Iterator["RawSpectrum | StarlabelInputError"]]


@dataclass(frozen=True, slots=True)
class ReaderInfo:
    name: str
    function: ReaderFn
    extensions: tuple[str, ...]
    identify: Callable[[Path], bool] | None
    description: str
    priority: int
    normalise: str = "none"


READERS: dict[str, ReaderInfo] = {}


def register_reader(
    name: str,
    *,
    extensions: Iterable[str],
    identify: Callable[[Path], bool] | None = None,
    description: str = "",
    priority: int = 50,
    normalise: str = "none",
) -> Callable[[ReaderFn], ReaderFn]:
    """Register a reader under ``name`` (used by ``--format``).

    ``identify(path) -> bool`` lets files be read without ``--format``; readers are
    asked in order of ``priority`` (lowest first), so specific formats go before
    catch-alls. ``normalise`` is the continuum normalisation ``prepare`` applies by
    default (``"percentile"``, ``"polynomial"``) for a format whose flux is never
    continuum-normalised; ``"none"`` for formats delivering normalised flux.
    """

    def decorate(fn: ReaderFn) -> ReaderFn:
        if name in READERS:
            raise ValueError(f"reader {name!r} is registered twice")
        summary = description or (fn.__doc__ or "").split("\n")[0]
        READERS[name] = ReaderInfo(
            name, fn, tuple(extensions), identify, summary, priority, normalise
        )
        return fn

    return decorate


@dataclass(frozen=True, slots=True)
class Rejected:
    """A spectrum (or file) that was skipped, and why."""

    source: str
    star: str
    reason: str

    @classmethod
    def from_error(cls, err: StarlabelInputError) -> Rejected:
        return cls(str(err.path or ""), err.star or "", err.problem)


def expand_paths(items: Iterable[PathLike]) -> list[Path]:
    """Files from paths, directories (their files, sorted) and glob patterns.

    Raises:
        StarlabelInputError: for a path or pattern that matches nothing.
    """
    out: list[Path] = []
    for item in items:
        text = str(item)
        p = Path(text)
        if p.is_dir():
            files = sorted(
                q for q in p.iterdir() if q.is_file() and not q.name.startswith(".")
            )
            if not files:
                raise StarlabelInputError("directory holds no files", path=p)
            out += files
        elif p.is_file():
            out.append(p)
        elif any(ch in text for ch in "*?["):
            matches = sorted(Path(m) for m in glob.glob(text) if Path(m).is_file())
            if not matches:
                raise StarlabelInputError("pattern matches no file", path=text)
            out += matches
        else:
            raise StarlabelInputError("no such file", path=p)
    return out


def _find_reader(path: Path, format: str | None) -> ReaderInfo:
    _load_builtin_readers()
    if format is not None:
        if format not in READERS:
            raise ValueError(
                f"format: unknown {format!r}; choose from {sorted(READERS)}"
            )
        info = READERS[format]
        # a file that a more specific reader recognises is not of this format:
        # read as one, it would give wrong wavelengths, ids or flux
        other = _recognised_before(path, info.priority)
        if other is not None:
            raise StarlabelInputError(
                f"is a file of format {other}, not {format}; use --format {other} "
                "(or leave --format out)",
                path=path,
            )
        return info
    for info in sorted(READERS.values(), key=lambda r: r.priority):
        if info.identify is not None and info.identify(path):
            return info
    from ._common import FITS_EXTENSIONS, fits_headers, has_extension

    if has_extension(path, FITS_EXTENSIONS) and not fits_headers(path, max_hdus=1):
        raise StarlabelInputError(
            "not a readable FITS file (empty, truncated or another format)", path=path
        )
    raise StarlabelInputError(
        "cannot tell the file format from its content; pass --format, one of "
        f"{sorted(READERS)}",
        path=path,
    )


def _recognised_before(path: Path, priority: int) -> str | None:
    """The first reader more specific than ``priority`` that identifies ``path``."""
    try:
        st = path.stat()
    except OSError:
        return None
    return _recognised(str(path), st.st_mtime_ns, st.st_size, priority)


@functools.lru_cache(maxsize=8192)
def _recognised(path: str, _mtime: int, _size: int, priority: int) -> str | None:
    for other in sorted(READERS.values(), key=lambda r: r.priority):
        if other.priority >= priority:
            return None
        if other.identify is not None and other.identify(Path(path)):
            return other.name
    return None


def read_raw(
    path: PathLike, format: str | None = None, **options: Any
) -> list[RawSpectrum]:
    """Read every spectrum of one file, raising on the first problem."""
    path = Path(path)
    info = _find_reader(path, format)
    out = []
    for item in info.function(path, **options):
        if isinstance(item, StarlabelInputError):
            raise item
        out.append(item.validate())
    return out


def iter_raw(
    paths: Iterable[PathLike],
    format: str | None = None,
    *,
    rejected: list[Rejected] | None = None,
    **options: Any,
) -> Iterator[RawSpectrum]:
    """Read many files, skipping bad files and bad stars.

    Every problem is appended to ``rejected`` (when given) as a :class:`Rejected`
    naming the file, the star and the reason; everything readable is yielded. Each
    spectrum's ``meta["format"]`` names the reader that read it.
    """
    for path in paths:
        path = Path(path)
        try:
            info = _find_reader(path, format)
            for item in info.function(path, **options):
                if isinstance(item, StarlabelInputError):
                    if rejected is not None:
                        rejected.append(
                            Rejected.from_error(item.with_context(path=path))
                        )
                    continue
                item.meta.setdefault("format", info.name)
                try:
                    yield item.validate()
                except StarlabelInputError as err:
                    if rejected is not None:
                        rejected.append(Rejected.from_error(err))
        except StarlabelInputError as err:
            if rejected is not None:
                rejected.append(Rejected.from_error(err.with_context(path=path)))
        except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
            # A reader tripping over a malformed file must not end a batch run.
            if rejected is not None:
                reason = f"could not read ({type(exc).__name__}: {' '.join(str(exc).split())})"
                rejected.append(Rejected(str(path), "", reason))


def _load_builtin_readers() -> None:
    from . import apogee, eso, gaia_rvs, table  # noqa: F401  (registration side effect)
