"""Label catalogues (FITS table, CSV, ECSV, Parquet) joined to spectra by id.

A mapping names which catalogue column holds what (``TEFF=teff``, ``LOGG=logg``,
``FEH=fe_h``, ``MG1=A(Mg)``, ``E_TEFF=teff_err``, ``VRAD=rv``). Targets may be label
names, ``A(X)``, ``[X/H]`` or ``[X/Fe]``; abundances are converted to one scale
(default [X/Fe], with A(Li) kept as ``a_li`` and [Fe/H] as ``fe_h``) with the solar
abundances of Grevesse, Asplund & Sauval (2007). Uncertainties follow: an error of
A(X) is the error of [X/H]; converting between [X/H] and [X/Fe] adds the [Fe/H] error
in quadrature (an upper bound when the errors are correlated). Targets that are not
labels (``rv``, ``rv_err``, ``snr``, ``flag``, anything else) go to the metadata.

Sentinel values (default -9999, -999) become NaN.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..._typing import PathLike
from ...errors import StarlabelInputError
from ..labels import LabelTarget, parse_label_target, solar_abundance
from .table import read_any_table

__all__ = ["LabelCatalogue", "read_catalogue", "parse_mapping"]

META_TARGETS = {
    "rv",
    "rv_err",
    "snr",
    "flag",
    "flags",
    "cluster",
    "ra",
    "dec",
    "population",
}
SCALES = ("x_fe", "x_h", "a")


def parse_mapping(items: Sequence[str] | Mapping[str, str]) -> dict[str, str]:
    """``["TEFF=teff", "FEH=fe_h"]`` -> ``{"TEFF": "teff", "FEH": "fe_h"}``."""
    if isinstance(items, Mapping):
        return dict(items)
    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--map: expected COLUMN=label, got {item!r}")
        col, target = item.split("=", 1)
        out[col.strip()] = target.strip()
    return out


@dataclass
class LabelCatalogue:
    """Labels, label errors and metadata per id, on one abundance scale."""

    path: Path
    ids: np.ndarray
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    labels_err: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._row = {sid: i for i, sid in enumerate(self.ids.tolist())}

    def __len__(self) -> int:
        return len(self.ids)

    def rows_for(self, ids: Sequence[str]) -> np.ndarray:
        """Catalogue row of each id, -1 where the id is not in the catalogue."""
        return np.array([self._row.get(str(s), -1) for s in ids], dtype=int)

    def take(self, ids: Sequence[str]) -> tuple[dict, dict, dict, np.ndarray]:
        """Labels, errors and meta for ``ids`` (NaN where unmatched) and the match mask."""
        rows = self.rows_for(ids)
        found = rows >= 0

        def pick(d: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            out = {}
            for k, v in d.items():
                if v.dtype.kind in "US":
                    col = np.where(found, v[np.maximum(rows, 0)], "")
                else:
                    col = np.where(found, v[np.maximum(rows, 0)].astype(float), np.nan)
                out[k] = col
            return out

        return pick(self.labels), pick(self.labels_err), pick(self.meta), found


def _column(df, name: str, path: Path) -> np.ndarray:
    if name not in df.columns:
        lower = {str(c).lower(): c for c in df.columns}
        if name.lower() not in lower:
            raise StarlabelInputError(
                f"no column {name!r}; have {', '.join(map(str, df.columns))}", path=path
            )
        name = lower[name.lower()]
    return df[name].to_numpy()


def _floats(values: np.ndarray, missing: Sequence[float]) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    for m in missing:
        arr = np.where(np.isclose(arr, m, atol=0.01, rtol=0), np.nan, arr)
    return arr


def _scale_of(target: LabelTarget) -> LabelTarget:
    """Recognise abundance label names (``mg_fe``, ``ni_h``, ``a_li``) as scales."""
    if target.scale != "label":
        return target
    from ..labels import _element_symbol

    name = target.name
    for suffix, scale in (("_fe", "x_fe"), ("_h", "x_h")):
        if name.endswith(suffix) and name != "fe_fe":
            el = _element_symbol(name[: -len(suffix)])
            if el is not None:
                return LabelTarget(scale, name, el, target.is_error)
    if name.startswith("a_"):
        el = _element_symbol(name[2:])
        if el is not None:
            return LabelTarget("a", el.lower(), el, target.is_error)
    return target


def read_catalogue(
    path: PathLike,
    *,
    id_column: str,
    mapping: Mapping[str, str] | Sequence[str],
    abundance_scale: str = "x_fe",
    missing_values: Sequence[float] = (-9999.0, -999.0),
) -> LabelCatalogue:
    """Read a label catalogue and convert it to starlabel's label names.

    Args:
        path: FITS table, CSV, ECSV or Parquet file.
        id_column: column with the ids that match the spectra's ids.
        mapping: catalogue column -> target (see module docstring).
        abundance_scale: ``"x_fe"`` ([X/Fe], default), ``"x_h"`` or ``"a"``.
        missing_values: sentinels read as NaN.

    Raises:
        StarlabelInputError: for an unreadable file, a missing column, a bad mapping
            target, duplicated ids, or an abundance scale that needs [Fe/H] when the
            catalogue has none.
    """
    path = Path(path)
    if abundance_scale not in SCALES:
        raise ValueError(
            f"abundance_scale: expected one of {SCALES}, got {abundance_scale!r}"
        )
    df, _ = read_any_table(path)
    ids = np.asarray([str(v).strip() for v in _column(df, id_column, path)])
    values, uniq_counts = np.unique(ids, return_counts=True)
    if np.any(uniq_counts > 1):
        dup = ", ".join(values[uniq_counts > 1][:5])
        raise StarlabelInputError(
            f"duplicated ids in column {id_column!r}: {dup}", path=path
        )

    mapping = parse_mapping(mapping)
    # quantities[(scale, element or name)] = (values, errors)
    abund: dict[tuple[str, str], list] = {}
    plain: dict[str, list] = {}
    meta: dict[str, np.ndarray] = {}
    for col, text in mapping.items():
        try:
            target = _scale_of(parse_label_target(text))
        except ValueError as exc:
            raise StarlabelInputError(str(exc), path=path) from exc
        raw = _column(df, col, path)
        base = target.name
        if target.scale == "label" and (
            base in META_TARGETS or base.startswith("meta_")
        ):
            key = base + ("_err" if target.is_error else "")
            meta[key] = (
                raw.astype(str)
                if raw.dtype.kind in "OUS"
                else _floats(raw, missing_values)
            )
            continue
        try:
            vals = _floats(raw, missing_values)
        except (TypeError, ValueError) as exc:
            raise StarlabelInputError(
                f"column {col!r} is not numeric", path=path
            ) from exc
        if target.scale == "label":
            slot = plain.setdefault(base, [None, None])
        else:
            slot = abund.setdefault((target.scale, target.element), [None, None])
        slot[1 if target.is_error else 0] = vals

    # [Fe/H] from any of its spellings.
    fe = plain.pop("fe_h", None) or abund.pop(("x_h", "Fe"), None)
    if fe is None and ("a", "Fe") in abund:
        a_fe = abund.pop(("a", "Fe"))
        fe = [None if a_fe[0] is None else a_fe[0] - solar_abundance("Fe"), a_fe[1]]
    labels: dict[str, np.ndarray] = {}
    errs: dict[str, np.ndarray] = {}
    if fe is not None and fe[0] is not None:
        labels["fe_h"] = fe[0]
        if fe[1] is not None:
            errs["fe_h"] = fe[1]
    for name, (v, e) in plain.items():
        if v is None:
            raise StarlabelInputError(
                f"{name}_err mapped but no column for {name}", path=path
            )
        labels[name] = v
        if e is not None:
            errs[name] = e
    for (scale, el), (v, e) in abund.items():
        if v is None:
            raise StarlabelInputError(
                f"error of {el} mapped but no value column", path=path
            )
        name, val, err = _convert(
            scale, el, v, e, labels.get("fe_h"), errs.get("fe_h"), abundance_scale, path
        )
        labels[name] = val
        if err is not None:
            errs[name] = err
    return LabelCatalogue(path, ids, labels, errs, meta)


def _name(scale: str, el: str) -> str:
    return {
        "a": f"a_{el.lower()}",
        "x_h": f"{el.lower()}_h",
        "x_fe": f"{el.lower()}_fe",
    }[scale]


def _convert(scale, el, v, e, fe_h, fe_err, want, path):
    """Convert one abundance (value, error) from ``scale`` to ``want`` via [X/H].

    Without [Fe/H], [X/Fe] cannot be reached from A(X) or [X/H]: those stay [X/H].
    """
    if el == "Li":
        want = "a"  # Li is always quoted as A(Li)
    if scale == want:
        return _name(scale, el), v, e

    def plus_fe(err):
        return (
            None
            if err is None
            else (np.hypot(err, fe_err) if fe_err is not None else err)
        )

    if scale == "x_fe":
        if fe_h is None:
            raise StarlabelInputError(
                f"[{el}/Fe] needs [Fe/H] to convert; map a [Fe/H] column", path=path
            )
        x_h, x_h_err = v + fe_h, plus_fe(e)
    elif scale == "a":
        x_h, x_h_err = v - solar_abundance(el), e
    else:
        x_h, x_h_err = v, e
    if want == "a":
        return _name("a", el), x_h + solar_abundance(el), x_h_err
    if want == "x_h" or fe_h is None:
        return _name("x_h", el), x_h, x_h_err
    return _name("x_fe", el), x_h - fe_h, plus_fe(x_h_err)
