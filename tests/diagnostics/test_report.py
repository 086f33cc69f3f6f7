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
    # ood_score: high for the 40 stars given a teff residual of 20 sigma (badly
    # labelled), and for 30 of the 60 stars above the recorded training fe_h range
    bad = rng.choice(truth.n_spectra, 40, replace=False)
    table["teff"][bad] += 1200.0
    hi_feh = np.argsort(truth.labels["fe_h"])[-60:]
    score = rng.uniform(0.1, 0.9, truth.n_spectra)
    score[bad[:25]] = rng.uniform(1.5, 3.0, 25)
    score[hi_feh[:30]] = rng.uniform(1.5, 3.0, 30)
    table["ood_score"] = score
    table.meta["SLMODEL"] = "cnn (DeepEnsembleRegressor)"
    cut = float(truth.labels["fe_h"][hi_feh[0]])
    table.meta["SLRNG1"] = f"fe_h -2.5 {cut - 1e-9:.12g}"
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
    # Own lines: this catalogue's abundances are truth + noise (measurements), and
    # the leakage table holds the slopes of an independent least-squares fit.
    own = page[page.index("<h2>Own lines</h2>") :]
    own = own[: own.index("<h2>", 5)]
    assert "not a measurement" not in own
    for name in ("mg_fe", "al_fe"):
        x = np.column_stack(
            [truth.labels[k] - truth.labels[k].mean() for k in truth.label_names]
            + [np.ones(truth.n_spectra)]
        )
        beta = np.linalg.lstsq(x, np.asarray(table[name], float), rcond=None)[0]
        slope = beta[truth.label_names.index(name)]
        assert f"<td>{name}</td><td>{truth.n_spectra}</td><td>{slope:.4g}</td>" in own
    # All injected Li-rich giants (A(Li) 2.6, log g < 3.5) are recovered at this precision.
    m = re.search(r"recovered (\d+)% of the (\d+) true Li-rich giants", page)
    injected = int(((truth.labels["a_li"] > 2) & (truth.labels["logg"] < 3.5)).sum())
    assert m and int(m.group(2)) == injected and int(m.group(1)) >= 90
    assert "Stars assigned to the right disc" in page

    # OOD section: AUROC of each truth-defined set equals the Mann-Whitney statistic
    # computed here by counting pairs (ties count one half)
    def auroc(pos):
        a, b = score[pos], score[~pos]
        return (a[:, None] > b[None, :]).mean() + 0.5 * (
            a[:, None] == b[None, :]
        ).mean()

    outside = truth.labels["fe_h"] > cut - 1e-9
    badly = np.zeros(truth.n_spectra, dtype=bool)
    for name in truth.label_names:
        res = np.asarray(table[name]) - truth.labels[name]
        robust = 1.4826 * np.median(np.abs(res - np.median(res)))
        badly |= np.abs(res - np.median(res)) > 3 * robust
    assert set(np.flatnonzero(badly)) >= set(bad)
    for pos in (outside, badly):
        row = re.search(
            rf"<td>{int(pos.sum())}</td><td>([0-9.]+)</td><td>([0-9.]+)</td><td>([0-9.]+)</td>",
            page,
        )
        assert row, int(pos.sum())
        assert abs(float(row.group(3)) - auroc(pos)) < 1e-3
        assert abs(float(row.group(1)) - (score[pos] > 1).mean()) < 1e-3
    assert f"{int((score > 1).sum())} of {truth.n_spectra} stars flagged" in page


def test_saliency_section_says_which_abundances_draw_on_their_own_lines(tmp_path):
    """The saliency section counts, per abundance, the peaks on its own element's
    lines in ``saliency_lines.csv`` and names an abundance that draws on none (the
    demo's [Al/Fe] peaks were all Mg lines)."""
    from starlabel.diagnostics.report_outputs import explain_section

    rows = [
        ("teff", "Ca"),
        ("teff", "Fe"),
        ("fe_h", "Mg"),
        ("mg_fe", "Mg"),
        ("mg_fe", "Fe"),
        ("mg_fe", "Mg"),
        ("al_fe", "Mg"),
        ("al_fe", ""),
    ]
    lines = ["label,rank,wavelength_aa,strength,sign,species,ion,line_wavelength_aa"]
    lines += [
        f"{lab},{k},5500.0,1.0,1,{sp},1,5500.0" for k, (lab, sp) in enumerate(rows)
    ]
    (tmp_path / "saliency_lines.csv").write_text("\n".join(lines) + "\n")
    text = explain_section(tmp_path).caption
    assert "mg_fe 2 of 3 on Mg lines" in text
    assert "al_fe 0 of 2 on Al lines" in text
    assert "al_fe on no Al line" in text and "mg_fe on no" not in text
    assert "teff" not in text.split("Own-element share")[1]
    # [Fe/H] is counted but not called a borrowed label: metallicity is every line's
    assert "fe_h 0 of 1 on Fe lines" in text and "fe_h on no" not in text
