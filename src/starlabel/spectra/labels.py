"""Label names, units, solar abundances and abundance conversions.

Label names follow ARCHITECTURE.md: ``teff`` (K), ``logg`` (dex), ``fe_h``, ``<x>_fe``
for [X/Fe], ``<x>_h`` for [X/H], ``a_li`` (and ``a_<x>``) for A(X), ``vmic`` and
``vsini`` (km/s).

Abundance scales (Gaia-ESO conventions, Ambrosch et al. 2023 §2.1):

* A(X) = log10(N_X / N_H) + 12
* [X/H] = A(X) - A(X)_sun
* [X/Fe] = [X/H] - [Fe/H]

with A(X)_sun from Grevesse, Asplund & Sauval (2007), shipped as
``spectra/data/solar_abundances_gas2007.csv``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources

import numpy as np

from .._typing import ArrayLike

__all__ = [
    "LabelSpec",
    "label_spec",
    "solar_abundance",
    "a_to_x_h",
    "x_h_to_a",
    "x_h_to_x_fe",
    "x_fe_to_x_h",
    "a_to_x_fe",
    "x_fe_to_a",
    "parse_label_target",
    "element_of",
]


def element_of(label: str) -> str | None:
    """The element symbol a label measures: ``mg_fe`` -> Mg, ``fe_h`` -> Fe,
    ``a_li`` -> Li; None for teff, logg, vmic, ...

    Example:
        >>> element_of("al_fe"), element_of("a_li"), element_of("teff")
        ('Al', 'Li', None)
    """
    if label.endswith("_fe") or label.endswith("_h"):
        return label.split("_")[0].capitalize()
    if label.startswith("a_"):
        return label[2:].capitalize()
    return None


_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class LabelSpec:
    """A label: its name, unit and a human description.

    Example:
        >>> label_spec("teff")
        LabelSpec(name='teff', unit='K', description='effective temperature')
        >>> label_spec("mg_fe").description
        '[Mg/Fe]'
    """

    name: str
    unit: str
    description: str = ""

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise ValueError(
                f"label name {self.name!r} must be lower case letters, digits and "
                "underscores, starting with a letter (e.g. 'teff', 'mg_fe')"
            )


_FIXED = {
    "teff": ("K", "effective temperature"),
    "logg": ("dex", "surface gravity log10(g / cm s^-2)"),
    "fe_h": ("dex", "[Fe/H]"),
    "m_h": ("dex", "[M/H]"),
    "alpha_fe": ("dex", "[alpha/Fe]"),
    "vmic": ("km/s", "microturbulence"),
    "vmac": ("km/s", "macroturbulence"),
    "vsini": ("km/s", "projected rotation velocity"),
    "rv": ("km/s", "radial velocity"),
}


def label_spec(name: str) -> LabelSpec:
    """The unit and description of a label from its name.

    Args:
        name: a label name such as ``teff``, ``mg_fe``, ``ni_h`` or ``a_li``.

    Returns:
        The ``LabelSpec``; names that follow no known pattern get an empty unit.
    """
    if name in _FIXED:
        unit, description = _FIXED[name]
        return LabelSpec(name, unit, description)
    m = re.fullmatch(r"([a-z]{1,2})_(fe|h)", name)
    if m and _element_symbol(m.group(1)) is not None:
        el = _element_symbol(m.group(1))
        return LabelSpec(name, "dex", f"[{el}/{m.group(2).capitalize()}]")
    m = re.fullmatch(r"a_([a-z]{1,2})", name)
    if m and _element_symbol(m.group(1)) is not None:
        return LabelSpec(name, "dex", f"A({_element_symbol(m.group(1))})")
    return LabelSpec(name, "", "")


@functools.cache
def _solar_table() -> dict[str, float]:
    text = (
        resources.files("starlabel.spectra")
        .joinpath("data/solar_abundances_gas2007.csv")
        .read_text(encoding="utf-8")
    )
    table: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#") or line.startswith("Z,"):
            continue
        _, element, value = line.split(",")
        table[element] = float(value)
    return table


def _element_symbol(text: str) -> str | None:
    symbol = text[:1].upper() + text[1:].lower()
    return symbol if symbol in _solar_table() else None


def solar_abundance(element: str) -> float:
    """A(X) of the Sun, Grevesse, Asplund & Sauval (2007).

    Args:
        element: element symbol, any case (``"Mg"``, ``"mg"``).

    Example:
        >>> solar_abundance("Fe")
        7.45

    References:
        Grevesse, Asplund & Sauval 2007, Space Sci. Rev. 130, 105.
    """
    symbol = _element_symbol(element)
    if symbol is None:
        raise ValueError(f"element: unknown element symbol {element!r}")
    return _solar_table()[symbol]


def a_to_x_h(a: ArrayLike, element: str) -> np.ndarray:
    """[X/H] from A(X).

    Example:
        >>> round(float(a_to_x_h(7.83, "Mg")), 6)
        0.3
    """
    return np.asarray(a, dtype=float) - solar_abundance(element)


def x_h_to_a(x_h: ArrayLike, element: str) -> np.ndarray:
    """A(X) from [X/H]."""
    return np.asarray(x_h, dtype=float) + solar_abundance(element)


def x_h_to_x_fe(x_h: ArrayLike, fe_h: ArrayLike) -> np.ndarray:
    """[X/Fe] = [X/H] - [Fe/H]."""
    return np.asarray(x_h, dtype=float) - np.asarray(fe_h, dtype=float)


def x_fe_to_x_h(x_fe: ArrayLike, fe_h: ArrayLike) -> np.ndarray:
    """[X/H] = [X/Fe] + [Fe/H]."""
    return np.asarray(x_fe, dtype=float) + np.asarray(fe_h, dtype=float)


def a_to_x_fe(a: ArrayLike, element: str, fe_h: ArrayLike) -> np.ndarray:
    """[X/Fe] from A(X) and [Fe/H].

    Example:
        >>> float(np.round(a_to_x_fe(7.33, "Mg", -0.5), 6))
        0.3
    """
    return x_h_to_x_fe(a_to_x_h(a, element), fe_h)


def x_fe_to_a(x_fe: ArrayLike, element: str, fe_h: ArrayLike) -> np.ndarray:
    """A(X) from [X/Fe] and [Fe/H]."""
    return x_h_to_a(x_fe_to_x_h(x_fe, fe_h), element)


@dataclass(frozen=True, slots=True)
class LabelTarget:
    """What a catalogue column holds, parsed from a mapping target.

    ``scale`` is ``"label"`` for a plain label name, else one of ``"a"`` (A(X)),
    ``"x_h"`` ([X/H]) or ``"x_fe"`` ([X/Fe]) with ``element`` set. ``is_error``
    marks an uncertainty column (``teff_err``, ``e_A(Mg)``).
    """

    scale: str
    name: str
    element: str | None = None
    is_error: bool = False


def parse_label_target(text: str) -> LabelTarget:
    """Parse the right-hand side of a catalogue column mapping.

    Accepted: a label name (``teff``, ``mg_fe``), ``A(Mg)``, ``[Mg/H]``, ``[Mg/Fe]``;
    a trailing ``_err`` or a leading ``e_`` marks the uncertainty of that quantity.

    Example:
        >>> parse_label_target("A(Mg)")
        LabelTarget(scale='a', name='mg', element='Mg', is_error=False)
        >>> parse_label_target("teff_err").is_error
        True
    """
    raw = text.strip()
    is_error = False
    if raw.endswith("_err"):
        raw, is_error = raw[: -len("_err")], True
    elif raw.lower().startswith("e_") and ("(" in raw or "[" in raw):
        raw, is_error = raw[2:], True
    m = re.fullmatch(r"A\(([A-Za-z]{1,2})\)", raw)
    if m:
        el = _element_symbol(m.group(1))
        if el is None:
            raise ValueError(f"mapping target {text!r}: unknown element {m.group(1)!r}")
        return LabelTarget("a", el.lower(), el, is_error)
    m = re.fullmatch(r"\[([A-Za-z]{1,2})/(H|Fe)\]", raw)
    if m:
        el = _element_symbol(m.group(1))
        if el is None:
            raise ValueError(f"mapping target {text!r}: unknown element {m.group(1)!r}")
        if el == "Fe" and m.group(2) == "Fe":
            raise ValueError(f"mapping target {text!r}: [Fe/Fe] is always zero")
        scale = "x_h" if m.group(2) == "H" else "x_fe"
        return LabelTarget(scale, f"{el.lower()}_{m.group(2).lower()}", el, is_error)
    if not _NAME_RE.match(raw):
        raise ValueError(
            f"mapping target {text!r}: expected a label name such as 'teff' or "
            "'mg_fe', or A(X), [X/H], [X/Fe]"
        )
    return LabelTarget("label", raw, None, is_error)
