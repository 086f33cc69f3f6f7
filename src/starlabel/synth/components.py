"""The numbers behind the populations of :mod:`starlabel.synth.population`: the
Galactic components' shares, the clusters, and the ranges of the uniform and the
decorrelated draws."""

from __future__ import annotations

__all__ = [
    "COMPONENTS",
    "DECORRELATED_RANGES",
    "GLOBULAR_CLUSTERS",
    "OPEN_CLUSTERS",
    "UNIFORM_RANGES",
]

UNIFORM_RANGES: dict[str, tuple[float, float]] = {
    "teff": (4000.0, 7000.0),
    "logg": (1.0, 5.0),
    "fe_h": (-2.5, 0.5),
    "mg_fe": (-0.2, 0.5),
    "al_fe": (-0.3, 0.8),
    "si_fe": (-0.2, 0.5),
    "ca_fe": (-0.2, 0.5),
    "ti_fe": (-0.2, 0.5),
    "ni_fe": (-0.2, 0.3),
    "a_li": (-0.5, 3.5),
    "vsini": (0.0, 10.0),
}

#: [X/Fe] ranges of the ``decorrelated`` population (each drawn uniformly and
#: independently): about the 1-99 % range of the Galactic population.
DECORRELATED_RANGES: dict[str, tuple[float, float]] = {
    "mg_fe": (-0.15, 0.45),
    "al_fe": (-0.15, 0.6),
    "si_fe": (-0.15, 0.4),
    "ca_fe": (-0.15, 0.35),
    "ti_fe": (-0.15, 0.4),
    "ni_fe": (-0.15, 0.1),
}
#: component shares of the Galactic mixture.
COMPONENTS = {
    "thin": 0.62,
    "thick": 0.22,
    "halo": 0.08,
    "open_cluster": 0.05,
    "globular_cluster": 0.03,
}

OPEN_CLUSTERS = {  # name: ([Fe/H], [Mg/Fe], [Al/Fe], rv km/s, young)
    "OC-solar-old": (0.0, 0.0, 0.05, 33.0, False),
    "OC-metal-rich": (0.35, 0.05, 0.15, -47.0, False),
    "OC-metal-poor": (-0.3, 0.08, 0.05, 74.0, False),
    "OC-young": (0.05, -0.02, 0.0, 12.0, True),
}
GLOBULAR_CLUSTERS = {"GC-1": (-1.5, -245.0), "GC-2": (-2.1, 108.0)}
