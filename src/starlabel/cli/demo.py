"""``starlabel demo``: the main job on the embedded default, on the public API only.

Synthetic Galactic survey -> raw FITS files -> prepare -> split -> CNN ensemble,
cINN and autoencoder -> catalogues -> evaluation -> spectrum emulator and per-star
fit of the CNN catalogue -> saliency -> similarity map -> HTML report. Everything goes to one folder; a rerun replaces the files of an
earlier demo there and refuses a folder that holds anything else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import StarlabelInputError
from ._app import console
from .info import print_dataset
from .prepare import print_report

MARKER = ".starlabel-demo"
MAPPING = {
    "TEFF": "teff",
    "E_TEFF": "teff_err",
    "LOGG": "logg",
    "E_LOGG": "logg_err",
    "FEH": "fe_h",
    "E_FEH": "fe_h_err",
    "MG_FE": "mg_fe",
    "AL_FE": "al_fe",
    "SI_FE": "si_fe",
    "CA_FE": "ca_fe",
    "TI_FE": "ti_fe",
    "NI_FE": "ni_fe",
    "A_LI": "a_li",
    "E_VRAD": "rv_err",
    "POPULATION": "population",
    "CLUSTER": "cluster",
}


def claim_folder(out: Path) -> None:
    """Refuse a non-empty folder that an earlier demo did not write; mark ours."""
    if out.exists() and not out.is_dir():
        raise StarlabelInputError(
            "exists and is not a folder; choose another --out", path=out
        )
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise StarlabelInputError(
            "is not empty and was not written by `starlabel demo`; nothing was touched: "
            "choose another --out",
            path=out,
        )
    from .._owned import is_ours

    old = [
        name
        for name in ("raw", "evaluation", "explain", "map")
        if (out / name).is_dir() and not is_ours(out / name)
    ]
    if old:
        raise StarlabelInputError(
            f"holds a demo of an earlier starlabel version (its folder {old[0]}/ "
            "carries no starlabel marker, so it is not replaced): remove the folder "
            "or choose another --out",
            path=out,
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by starlabel demo\n", encoding="utf-8")


def demo(
    out: Annotated[
        Path, typer.Option("--out", help="Folder for everything the demo writes.")
    ] = Path("starlabel-demo"),
    quick: Annotated[
        bool, typer.Option("--quick", help="A smaller run for a first look.")
    ] = False,
    seed: Annotated[int, typer.Option("--seed")] = 0,
) -> None:
    """The main job on the embedded default: synthetic survey -> models -> catalogues -> report."""
    from ..spectra.io.hdf5 import split_dataset
    from ..spectra.survey_files import prepare_survey
    from ..synth.population import sample_population
    from ..synth.raw import write_raw_observations
    from . import demo_steps
    from ._app import counter, progress_bar

    claim_folder(out)
    n_stars = 60 if quick else 1000
    console.rule("[bold]starlabel demo")
    console.print(
        "The whole chain on a synthetic Galactic survey: raw FITS spectra -> prepare -> split -> "
        "CNN deep ensemble, cINN and disentangling autoencoder -> catalogues with uncertainties -> "
        "evaluation -> spectrum emulator and per-star fit -> own-lines test -> saliency -> similarity map -> HTML report. Every file it writes is reusable."
    )
    raw_dir = out / "raw"
    pop = sample_population(n_stars, seed=seed, snr=(10.0, 150.0))
    with progress_bar("observe") as progress:
        task = progress.add_task("observe", total=3 * n_stars)
        files, catalogue, truth = write_raw_observations(
            raw_dir,
            pop,
            setup="giraffe-hr10-hr21",
            seed=seed,
            truth_crlb=True,
            progress=lambda k: progress.update(task, advance=k),
            overwrite=True,
        )
    console.print(
        f"1. observed a synthetic Galactic survey of {n_stars} stars: {len(files)} Gaia-ESO-style FITS "
        f"spectra (HR10 + HR21 at 0.05 A/px, Doppler shifted, cosmic rays, dead pixels, S/N 10-150), "
        f"the label catalogue {catalogue} (measured RVs) and the truth {truth}"
    )
    data = out / "survey.h5"
    with progress_bar("prepare") as progress:
        report, rejected = prepare_survey(
            [str(raw_dir / "*_HR*.fits")],
            data,
            format="ges",
            labels=catalogue,
            id_column="CNAME",
            mapping=[f"{c}={n}" for c, n in MAPPING.items()],
            rv_column="VRAD",
            config=dict(grid="giraffe-hr10-hr21"),
            progress=counter(progress, "prepare"),
            overwrite=True,
        )
    print_report(report, rejected, data)
    console.print(
        "2. prepared: cleaned spikes and dead pixels, shifted to the rest frame with the catalogue RV, "
        "resampled (flux-conserving) onto the 8669-pixel HR10+HR21 grid of Ambrosch et al. 2023, "
        "joined the setups"
    )
    print_dataset(data)
    parts = split_dataset(
        data,
        out / "survey",
        (0.6, 0.2, 0.2),
        seed=seed,
        stratify="teff",
        overwrite=True,
    )
    console.print(
        "3. split (stratified on teff): "
        + ", ".join(f"{n} {name} -> {p}" for name, (p, n) in parts.items())
    )
    paths = {name: p for name, (p, _) in parts.items()}
    library = demo_steps.demo_library(out, quick=quick, seed=seed)
    cnn = demo_steps.demo_cnn(out, paths, truth, quick=quick, seed=seed)
    cinn = demo_steps.demo_cinn(out, paths, truth, quick=quick, seed=seed)
    gandalf = demo_steps.demo_gandalf(out, paths, truth, quick=quick, seed=seed)
    refined = demo_steps.demo_refine(
        out, paths, library, truth, cnn, quick=quick, seed=seed
    )
    demo_steps.demo_own_lines(out, quick=quick, seed=seed)
    demo_steps.demo_explain(out, paths, quick=quick, seed=seed)
    demo_steps.demo_map(out, paths, cnn, quick=quick, seed=seed)
    demo_steps.demo_report(out, [cnn, cinn, gandalf, refined], truth)
    console.print(
        f"everything is in {out}/\nlook at it in the web app: starlabel serve {out}/  (then open "
        "http://127.0.0.1:8765/; needs pip install 'starlabel[web]')",
        markup=False,
    )
