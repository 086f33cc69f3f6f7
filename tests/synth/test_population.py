import numpy as np
import pytest

from starlabel.synth.population import sample_population


@pytest.fixture(scope="module")
def pop():
    return sample_population(30000, seed=3)


def test_components_and_metallicity_range(pop):
    comp = pop.meta["population"]
    frac = {
        c: np.mean(comp == c)
        for c in ("thin", "thick", "halo", "open_cluster", "globular_cluster")
    }
    assert (
        0.55 < frac["thin"] < 0.7
        and 0.17 < frac["thick"] < 0.27
        and 0.05 < frac["halo"] < 0.11
    )
    fe = pop.labels["fe_h"]
    assert fe.min() <= -2.4 and fe.max() <= 0.5 + 0.1


def test_alpha_bimodality_with_a_thick_disc_knee(pop):
    comp, fe, mg = pop.meta["population"], pop.labels["fe_h"], pop.labels["mg_fe"]
    thick_poor = (comp == "thick") & (fe < -0.7)
    thick_rich = (comp == "thick") & (fe > -0.2)
    assert abs(np.median(mg[thick_poor]) - 0.30) < 0.03  # plateau
    assert np.median(mg[thick_rich]) < 0.25  # past the knee
    same_fe = (fe > -0.6) & (fe < -0.4)
    gap = np.median(mg[same_fe & (comp == "thick")]) - np.median(
        mg[same_fe & (comp == "thin")]
    )
    assert gap > 0.15  # two sequences at the same [Fe/H]


def test_kiel_diagram_rgb_is_hotter_at_low_metallicity(pop):
    rgb = pop.meta["stage"] == "rgb"
    fe, teff, logg = (
        pop.labels["fe_h"][rgb],
        pop.labels["teff"][rgb],
        pop.labels["logg"][rgb],
    )
    coef = np.linalg.lstsq(
        np.column_stack([np.ones(rgb.sum()), logg, fe]), teff, rcond=None
    )[0]
    assert (
        coef[1] > 300 and coef[2] < -100
    )  # cooler up the branch, hotter when metal-poor
    ms = pop.meta["stage"] == "ms"
    assert np.median(pop.labels["logg"][ms]) > 4.2


def test_clusters_are_chemically_homogeneous_and_gcs_anticorrelate(pop):
    cl = pop.meta["cluster"]
    for name in set(cl[pop.meta["population"] == "open_cluster"]):
        m = cl == name
        assert (
            np.std(pop.labels["fe_h"][m]) < 0.03
            and np.std(pop.labels["mg_fe"][m]) < 0.03
        )
    gc = pop.meta["population"] == "globular_cluster"
    r = np.corrcoef(pop.labels["mg_fe"][gc], pop.labels["al_fe"][gc])[0, 1]
    assert r < -0.6


def test_lithium_rich_giants_are_rare_and_normal_giants_poor(pop):
    giants = (pop.labels["logg"] < 3.5) & (pop.meta["stage"] != "ms")
    rich = pop.meta["li_rich"]
    assert 0.007 < rich[giants].mean() < 0.013
    assert np.all(pop.labels["a_li"][rich] > 2.0) and np.all(
        pop.labels["logg"][rich] < 3.5
    )
    assert np.all(pop.labels["a_li"][giants & ~rich] < 1.5)


def test_snr_is_log_uniform_and_seed_reproducible():
    a = sample_population(5000, seed=9, snr=(10, 150))
    assert a.meta["snr"].min() >= 10 and a.meta["snr"].max() <= 150
    assert (
        abs(np.median(np.log(a.meta["snr"])) - 0.5 * (np.log(10) + np.log(150))) < 0.1
    )
    b = sample_population(5000, seed=9, snr=(10, 150))
    np.testing.assert_array_equal(a.array(), b.array())


def test_uniform_population_respects_ranges():
    p = sample_population(
        500, kind="uniform", seed=0, ranges={"teff": (5000.0, 5100.0)}
    )
    assert p.labels["teff"].min() >= 5000 and p.labels["teff"].max() <= 5100
    with pytest.raises(ValueError, match="kind"):
        sample_population(5, kind="nope")


ABUNDANCES = ("mg_fe", "al_fe", "si_fe", "ca_fe", "ti_fe", "ni_fe")


def test_decorrelated_stars_are_the_galactic_ones_with_independent_abundances(pop):
    from starlabel.synth.population import DECORRELATED_RANGES

    dec = sample_population(30000, seed=3, kind="decorrelated")
    for name in ("teff", "logg", "fe_h", "a_li", "vsini"):
        np.testing.assert_array_equal(dec.labels[name], pop.labels[name])
    np.testing.assert_array_equal(dec.meta["population"], pop.meta["population"])
    x = np.column_stack([dec.labels[k] for k in ("fe_h", *ABUNDANCES)])
    r = np.corrcoef(x.T) - np.eye(x.shape[1])
    assert np.abs(r).max() < 4 / np.sqrt(x.shape[0])  # independent: |r| ~ 1/sqrt(n)
    galactic = np.corrcoef(pop.labels["mg_fe"], pop.labels["si_fe"])[0, 1]
    assert galactic > 0.8  # what the Galactic population teaches
    for k in ABUNDANCES:
        lo, hi = DECORRELATED_RANGES[k]
        v = dec.labels[k]
        assert lo <= v.min() < lo + 0.01 and hi - 0.01 < v.max() <= hi, k


def test_globular_population_is_the_clusters_alone():
    gc = sample_population(2000, seed=5, kind="globular")
    assert set(gc.meta["population"]) == {"globular_cluster"}
    assert set(gc.meta["cluster"]) == {"GC-1", "GC-2"}
    r = np.corrcoef(gc.labels["mg_fe"], gc.labels["al_fe"])[0, 1]
    assert r < -0.8
    with pytest.raises(ValueError, match="decorrelated"):
        sample_population(10, kind="nope")
