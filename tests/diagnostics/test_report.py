"""The HTML report opens, holds every section, and its numbers come from the data."""

import re

import astropy.units as u
import numpy as np
from astropy.table import Table

from starlabel.diagnostics.report import SECTIONS, write_report
from starlabel.inference.catalogue import write_catalogue
from starlabel.spectra import Spectra, write_dataset


def _truth(n=600, seed=0):
    rng = np.random.default_rng(seed)
    pop = rng.choice(
        ["thin", "thick", "open_cluster", "globular_cluster"],
        n,
        p=[0.55, 0.3, 0.08, 0.07],
    )
    fe_h = np.where(
        pop == "thick", rng.normal(-0.6, 0.15, n), rng.normal(-0.1, 0.15, n)
    )
    mg_fe = np.where(pop == "thick", 0.3, 0.02) + rng.normal(0, 0.03, n)
    cluster = np.where(pop == "open_cluster", rng.choice(["oc1", "oc2"], n), "")
    cluster = np.where(pop == "globular_cluster", "gc1", cluster)
    al_fe = rng.normal(0.1, 0.1, n)
    g = pop == "globular_cluster"
    mg_fe[g] = rng.uniform(-0.1, 0.4, g.sum())
    al_fe[g] = 0.8 - 1.5 * mg_fe[g] + rng.normal(0, 0.05, g.sum())
    logg = rng.uniform(1, 5, n)
    a_li = np.where(rng.random(n) < 0.05, 2.6, 1.0)
    labels = dict(
        teff=rng.uniform(4000, 6500, n),
        logg=logg,
        fe_h=fe_h,
        mg_fe=mg_fe,
        al_fe=al_fe,
        a_li=a_li,
    )
    flux = np.ones((n, 8))
    return Spectra(
        flux,
        np.linspace(5000, 5007, 8) * u.AA,
        np.ones_like(flux),
        labels,
        meta={
            "id": [f"s{i}" for i in range(n)],
            "population": pop,
            "cluster": cluster,
            "snr": rng.uniform(10, 150, n),
        },
    )


def test_report_has_every_section_and_true_numbers(tmp_path):
    truth = _truth()
    write_dataset(truth, tmp_path / "truth.h5")
    rng = np.random.default_rng(1)
    table = Table({"id": truth.ids})
    for name, scale in dict(
        teff=60.0, logg=0.1, fe_h=0.04, mg_fe=0.02, al_fe=0.03, a_li=0.05
    ).items():
        table[name] = truth.labels[name] + rng.normal(0, scale, truth.n_spectra)
        table[f"{name}_err"] = np.full(truth.n_spectra, scale)
        table[f"{name}_err_int"] = np.full(truth.n_spectra, scale / 2)
        table[f"{name}_err_ext"] = np.full(truth.n_spectra, scale * 0.866)
    write_catalogue(table, tmp_path / "cat.fits")
    ex = tmp_path / "explain"
    ex.mkdir()
    (ex / "saliency_lines.csv").write_text(
        "label,rank,wavelength_aa,species\nmg_fe,1,5002.0,Mg\n"
    )
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.figure().savefig(ex / "saliency_mg_fe.png")
    path = write_report(
        [tmp_path / "cat.fits"],
        tmp_path / "truth.h5",
        tmp_path / "r.html",
        explain_dir=ex,
    )
    page = path.read_text()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    for title in SECTIONS:
        assert f"<h2>{title}</h2>" in page, title
    assert page.count("data:image/png;base64,") >= 9
    assert "No `starlabel map` output" in page  # a missing input is said, not hidden
    # The globular-cluster Pearson r of the truth, computed independently.
    g = truth.meta["population"] == "globular_cluster"
    r = np.corrcoef(truth.labels["mg_fe"][g], truth.labels["al_fe"][g])[0, 1]
    assert f"truth {r:.2f}" in page
    # All injected Li-rich giants (A(Li) 2.6, log g < 3.5) are recovered at this precision.
    m = re.search(r"recovered (\d+)% of the (\d+) true Li-rich giants", page)
    injected = int(((truth.labels["a_li"] > 2) & (truth.labels["logg"] < 3.5)).sum())
    assert m and int(m.group(2)) == injected and int(m.group(1)) >= 90
    assert "Stars assigned to the right disc" in page
