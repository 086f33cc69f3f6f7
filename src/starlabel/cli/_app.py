"""The Typer application, consoles, the error guard and the small helpers shared by
every command module."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from ..errors import NotBuiltError, StarlabelInputError
from ..spectra.flags import Flag

# Options that take several values: ``--labels teff logg``; expanded to repeated
# options (``--labels teff --labels logg``) before click parses the line. A value is
# a name, ``a,b`` or ``name=value``; a path (with '.' or '/') ends the list.
MULTI_VALUE = frozenset({"--labels", "--disentangle", "--entangle", "--set"})
_VALUE = re.compile(r"^[A-Za-z_][A-Za-z0-9_,]*(=[^\s/=]+)?$")
# Options that take several numbers: ``--fractions 0.7 0.3``; a value is any number
# (negative, nan and inf included, so that the command can name what is wrong).
MULTI_NUMBER = frozenset({"--fractions"})
_NUMBER = re.compile(
    r"^[+-]?((\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|nan|inf|infinity)$", re.IGNORECASE
)


def expand_multi(args: list[str]) -> list[str]:
    """``[--set, a=1, b=2]`` -> ``[--set, a=1, --set, b=2]`` (see MULTI_VALUE and
    MULTI_NUMBER)."""
    out: list[str] = []
    current, taken = None, False
    for a in args:
        if a in MULTI_VALUE or a in MULTI_NUMBER:
            current, taken = a, False
        elif (
            current in MULTI_NUMBER
            and _NUMBER.match(a)
            or current in MULTI_VALUE
            and not a.startswith("-")
            and _VALUE.match(a)
        ):
            if taken:
                out.append(current)
            taken = True
        else:
            current = None
        out.append(a)
    return out


class _Group(TyperGroup):
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, expand_multi(list(args)))


app = typer.Typer(
    cls=_Group,
    name="starlabel",
    help="Stellar labels (Teff, log g, [Fe/H], abundances) from spectra, with honest uncertainties.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts are plain: "starlabel[dask]" stays whole
)
console = Console()
err_console = Console(stderr=True)
# The commands print a model's fit warnings themselves, once, as "warning:" lines
# (``fit_warnings_``); without a handler, logging's last resort would print each
# one again, bare, while the model trains.
logging.getLogger("starlabel.models").addHandler(logging.NullHandler())

F = TypeVar("F", bound=Callable[..., Any])


def _fail(message: str, code: int) -> None:
    err_console.print(
        f"[bold red]error:[/] {escape(message)}",
        markup=True,
        highlight=False,
        soft_wrap=True,
    )
    raise typer.Exit(code)


def guarded(fn: F) -> F:
    """Turn input errors into a one-line message and exit code 2 (3: not built)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except StarlabelInputError as exc:
            _fail(str(exc), 2)
        except NotBuiltError as exc:
            _fail(str(exc), 3)
        except OSError as exc:  # permission denied, no such file, a directory, ...
            where = f"{exc.filename}: " if exc.filename else ""
            _fail(where + " ".join((exc.strerror or str(exc)).split()), 2)
        except (ValueError, KeyError, TypeError) as exc:
            _fail(" ".join(str(exc).split()), 2)

    return wrapper  # type: ignore[return-value]


def warn(message: str) -> None:
    """One warning line on stderr."""
    err_console.print(
        f"[bold yellow]warning:[/] {escape(message)}",
        markup=True,
        highlight=False,
        soft_wrap=True,
    )


def warn_flag_counts(counts: dict) -> None:
    """The warnings for rows below the S/N their errors were calibrated on, and
    for rows where two models disagree."""
    if counts.get("n_models_disagree"):
        warn(
            f"{counts['n_models_disagree']} rows: the fit and the model that started "
            f"it disagree beyond their combined errors (flag "
            f"{Flag.MODELS_DISAGREE.value}, column models_chi2)"
        )
    if counts.get("n_below_snr"):
        warn(
            f"{counts['n_below_snr']} rows have an S/N below every S/N the error "
            f"calibration was fitted on (flag {Flag.SNR_BELOW_CALIBRATION.value}): their "
            "_err is widened by (lowest calibrated S/N / S/N), not checked"
        )


def names(first: list[str], ctx: typer.Context | None = None) -> list[str]:
    """Names given as ``--labels a b c`` (extra tokens), ``--labels a,b`` or repeated."""
    out: list[str] = []
    for item in list(first) + (list(ctx.args) if ctx is not None else []):
        if item.startswith("-"):
            raise ValueError(f"unexpected option {item!r}")
        out += [x for x in item.split(",") if x]
    return out


def parse_assignments(
    items: list[str],
    flag: str,
    *,
    key: str = "NAME",
    example: str,
    required: bool = False,
) -> dict[str, float]:
    """``["teff=7500", "mg_fe=0"]`` -> ``{"teff": 7500.0, "mg_fe": 0.0}``, with a
    one-line error naming ``flag`` for anything else."""
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise ValueError(
                f"{flag}: expected {key}=VALUE (e.g. {example}), got {item!r}"
            ) from None
    if required and not out:
        raise ValueError(
            f"{flag}: give at least one {key}=VALUE (e.g. {flag} {example})"
        )
    return out


def progress_bar(label: str, quiet: bool = False, *, rate: str | None = None):
    """A rich progress bar on stderr (disabled with ``--quiet``); with ``rate`` (a
    unit, e.g. ``"spectra"``) it also shows the speed and the time left."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task: Any) -> Text:
            speed = task.finished_speed or task.speed
            return Text("" if speed is None else f"{speed:,.0f} {rate}/s")

    extra = [Rate(), TimeRemainingColumn()] if rate else []
    return Progress(
        TextColumn(f"[bold]{label}[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        *extra,
        console=err_console,
        disable=quiet,
        transient=True,  # gone when done: what was written is printed after it
    )


def counter(progress: Any, label: str) -> Callable[[int, int], None]:
    """``advance(n, total)`` for a task of unknown total on ``progress``; the first
    call may report work done earlier (a resumed run), which the speed leaves out."""
    task = progress.add_task(label, total=None)
    first = [True]

    def advance(n: int, total: int) -> None:
        if first[0]:
            first[0] = False
            progress.reset(task, total=total, completed=n)
        else:
            progress.update(task, advance=n, total=total)

    return advance


Overwrite = typer.Option(
    "--overwrite", help="Replace an earlier result of starlabel at the output path."
)
Quiet = typer.Option("--quiet", "-q", help="No progress bars.")
