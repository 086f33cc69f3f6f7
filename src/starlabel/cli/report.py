"""``starlabel report``: one self-contained HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._app import Overwrite, console, warn


def report(
    catalogues: Annotated[
        list[Path],
        typer.Argument(
            help="Catalogues; the most accurate one drives the science plots."
        ),
    ],
    truth: Annotated[Path, typer.Option("--truth", help="Reference labels (.h5).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="HTML file.")] = Path(
        "report.html"
    ),
    explain_dir: Annotated[
        Path | None, typer.Option("--explain", help="`starlabel explain` folder.")
    ] = None,
    map_dir: Annotated[
        Path | None, typer.Option("--map", help="`starlabel map` folder.")
    ] = None,
    fits: Annotated[
        Path | None,
        typer.Option(
            "--fits", help="Best-fit spectra from `starlabel refine --show` (PNG)."
        ),
    ] = None,
    tune_dir: Annotated[
        Path | None, typer.Option("--tune", help="`starlabel tune` folder.")
    ] = None,
    title: Annotated[str, typer.Option("--title")] = "starlabel report",
    overwrite: Annotated[bool, Overwrite] = False,
) -> None:
    """One self-contained HTML report with the figures."""
    from .._atomic import check_output
    from ..diagnostics.report import write_report

    check_output(output, overwrite=overwrite, suffixes=(".html", ".htm"))
    _check_truth(catalogues, truth)
    path = write_report(
        catalogues,
        truth,
        output,
        explain_dir=explain_dir,
        map_dir=map_dir,
        fits=fits,
        tune_dir=tune_dir,
        title=title,
    )
    console.print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


def _check_truth(catalogues: list[Path], truth: Path) -> None:
    """Refuse a catalogue none of whose stars is in ``truth``, and warn when
    ``truth`` is not the file a catalogue was predicted from; both name the files."""
    from ..diagnostics.report_eval import truth_note
    from ..errors import StarlabelInputError
    from ..inference.catalogue import read_catalogue_table
    from ..spectra import read_dataset

    known = set(read_dataset(truth).ids.tolist())
    for catalogue in catalogues:
        table = read_catalogue_table(catalogue)
        n_matched = sum(str(i) in known for i in table["id"])
        if n_matched == 0:
            raise StarlabelInputError(
                f"no star of the catalogue {catalogue} is in the truth file (ids "
                "differ: another run or survey?)",
                path=truth,
            )
        note = truth_note(table, truth, n_matched)
        if note:
            warn(f"{catalogue}: {note}")
