"""``starlabel explain``, ``starlabel map`` and ``starlabel report``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from .._atomic import atomic_path
from ._app import app, console, guarded


@app.command()
@guarded
def explain(
    model_dir: Annotated[
        Path, typer.Argument(help="Model directory (cnn, cinn or gandalf).")
    ],
    data: Annotated[Path, typer.Argument(help="Spectra to explain (.h5).")],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Folder for figures and tables.")
    ],
    n_stars: Annotated[
        int, typer.Option("--n-stars", help="Spectra averaged (random).")
    ] = 200,
    top: Annotated[int, typer.Option("--top", help="Peaks per label.")] = 10,
    tolerance: Annotated[
        float, typer.Option("--tolerance", help="Peak-to-line match [Angstrom].")
    ] = 0.25,
    seed: Annotated[int, typer.Option("--seed")] = 0,
) -> None:
    """Saliency maps and the spectral lines each label relies on."""
    from ..diagnostics.explain import explain as run
    from ..models import load
    from ..spectra.io.hdf5 import read_dataset

    res = run(
        load(model_dir),
        read_dataset(data),
        output,
        n_stars=n_stars,
        top=top,
        tolerance=tolerance,
        seed=seed,
    )
    for name, peaks in res.peaks.items():
        hits = [f"{p.species} {p.line_wavelength:.2f}" for p in peaks if p.species]
        own, chance = res.own_fraction[name]
        extra = (
            f"; own-element share {own:.0%} (chance {chance:.0%})"
            if np.isfinite(own)
            else ""
        )
        console.print(
            f"{name}: {', '.join(hits[:6]) or 'no line within tolerance'}{extra}"
        )
    console.print(f"wrote {len(res.files)} files to {output}/")


def map_summary(
    n_train: int, inner: np.ndarray | None, score: np.ndarray | None
) -> str:
    lines = [f"training spectra in the map: {n_train}"]
    if inner is not None:
        lines.append(
            f"placed spectra: {inner.size}; training-like (inner) {int(inner.sum())}, unlike (outer) {int((~inner).sum())}"
        )
    if score is not None:
        lines.append(
            f"ood_score > 1 (unlike, PCA neighbour distance): {int((score > 1).sum())}"
        )
    return "\n".join(lines) + "\n"


@app.command("map")
@guarded
def map_(
    train: Annotated[
        Path, typer.Argument(help="Training spectra (.h5) that define the map.")
    ],
    data: Annotated[
        Path | None, typer.Argument(help="Spectra to place into the map (.h5).")
    ] = None,
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Folder for the map.")
    ] = Path("map"),
    perplexity: Annotated[float, typer.Option("--perplexity")] = 30.0,
    n_components: Annotated[
        int, typer.Option("--n-components", help="PCA components before t-SNE.")
    ] = 50,
    max_train: Annotated[
        int, typer.Option("--max-train", help="Training spectra used (random).")
    ] = 5000,
    colour: Annotated[
        str, typer.Option("--colour", help="Label colouring the training points.")
    ] = "teff",
    seed: Annotated[int, typer.Option("--seed")] = 0,
) -> None:
    """Similarity map (t-SNE) and training-like / unlike flags.

    Writes map.safetensors (reusable: `predict --map`), map.png, map.csv and summary.txt."""
    import csv
    import io

    from ..diagnostics.plots.latent import plot_similarity_map
    from ..diagnostics.similarity import SimilarityMap
    from ..models._shared import dense_flux
    from ..spectra.io.hdf5 import read_dataset

    tr = read_dataset(train)
    if tr.n_spectra > max_train:
        tr = tr[
            np.sort(
                np.random.default_rng(seed).choice(
                    tr.n_spectra, max_train, replace=False
                )
            )
        ]
    smap = SimilarityMap.fit(
        dense_flux(tr)[0], n_components=n_components, perplexity=perplexity, seed=seed
    )
    output.mkdir(parents=True, exist_ok=True)
    smap.save(output / "map.safetensors")
    rows = [
        (i, "train", *xy, d, True, np.nan)
        for i, xy, d in zip(
            tr.ids[smap.fit_rows],
            smap.embedding,
            smap.distance(smap.embedding),
            strict=True,
        )
    ]
    inner = score = xy = None
    if data is not None:
        new = read_dataset(data)
        flux = dense_flux(new)[0]
        xy = smap.transform(flux)
        dist, score = smap.distance(xy), smap.ood_score(flux)
        inner = dist <= smap.threshold
        rows += list(
            zip(
                new.ids,
                ["data"] * new.n_spectra,
                xy[:, 0],
                xy[:, 1],
                dist,
                inner,
                score,
                strict=True,
            )
        )
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["id", "set", "x", "y", "map_distance", "inner", "ood_score"])
    w.writerows(rows)
    with atomic_path(output / "map.csv") as tmp:
        tmp.write_text(buf.getvalue(), encoding="utf-8")
    c = tr.labels[colour][smap.fit_rows] if colour in tr.labels else None
    fig, _ = plot_similarity_map(
        smap.embedding, xy, inner, colour=c, colour_label=colour
    )
    with atomic_path(output / "map.png") as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    text = map_summary(tr.n_spectra, inner, score)
    with atomic_path(output / "summary.txt") as tmp:
        tmp.write_text(text, encoding="utf-8")
    console.print(
        text.rstrip() + f"\nwrote {output}/ (map.safetensors, map.png, map.csv)"
    )


@app.command()
@guarded
def report(
    catalogues: Annotated[
        list[Path],
        typer.Argument(help="Catalogues; the first drives the science plots."),
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
    title: Annotated[str, typer.Option("--title")] = "starlabel report",
) -> None:
    """One self-contained HTML report with the figures."""
    from ..diagnostics.report import write_report

    path = write_report(
        catalogues, truth, output, explain_dir=explain_dir, map_dir=map_dir, title=title
    )
    console.print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
