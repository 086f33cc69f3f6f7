"""Filter, sort and page a catalogue of any size without turning it into Python
objects: the columns stay in Arrow, only the page asked for is converted.

Used by ``starlabel serve``; works on every catalogue ``predict`` writes (FITS, CSV,
Parquet, a folder of Parquet parts).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._typing import PathLike
from ..errors import StarlabelInputError

__all__ = ["CatalogueQuery", "Filter", "Page", "json_value"]


def json_value(v: Any) -> Any:
    """``v`` for JSON: a NaN or infinite float becomes ``None`` (JSON has neither).

    Example:
        >>> json_value(float("nan")), json_value(float("-inf")), json_value(2.5), json_value("a")
        (None, None, 2.5, 'a')
    """
    return None if isinstance(v, float) and not math.isfinite(v) else v


@dataclass(frozen=True)
class Filter:
    """Which rows to keep.

    Attributes:
        ranges: ``{column: (low, high)}``, inclusive; ``None`` for an open side.
        flag_any: keep rows with any of these bits set (0: no condition).
        flag_none: keep rows with none of these bits set (0: no condition).
        id_contains: keep rows whose id contains this text (case-insensitive).
    """

    ranges: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    flag_any: int = 0
    flag_none: int = 0
    id_contains: str = ""


@dataclass(frozen=True)
class Page:
    """One page of a query: the rows (JSON-ready), and how many rows matched."""

    total: int
    offset: int
    columns: list[str]
    rows: list[dict[str, Any]]


class CatalogueQuery:
    """A catalogue opened for queries (read once, kept as Arrow columns).

    Raises:
        StarlabelInputError: not a readable catalogue (one line naming the file).
    """

    def __init__(self, path: PathLike) -> None:
        self.path = Path(path)
        self.table = _read_arrow(self.path)
        self.units = {
            f.name: (f.metadata or {}).get(b"unit", b"").decode()
            for f in self.table.schema
        }
        self.descriptions = {
            f.name: (f.metadata or {}).get(b"description", b"").decode()
            for f in self.table.schema
        }
        self.meta = {
            k.decode(): v.decode()
            for k, v in (self.table.schema.metadata or {}).items()
            if not k.startswith((b"pandas", b"starlabel_"))
        }

    @property
    def columns(self) -> list[str]:
        return list(self.table.column_names)

    def __len__(self) -> int:
        return self.table.num_rows

    def _mask(self, where: Filter):
        import pyarrow as pa
        import pyarrow.compute as pc

        mask = pa.scalar(True)
        for name, (lo, hi) in where.ranges.items():
            if name not in self.table.column_names:
                raise ValueError(f"filter: no column {name!r} in {self.path.name}")
            col = self.table[name]
            if not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)):
                raise ValueError(f"filter: {name!r} is not a numeric column")
            if lo is not None:
                mask = pc.and_kleene(mask, pc.greater_equal(col, lo))
            if hi is not None:
                mask = pc.and_kleene(mask, pc.less_equal(col, hi))
        if (where.flag_any or where.flag_none) and "flag" in self.table.column_names:
            flag = self.table["flag"].cast(pa.int64())
            if where.flag_any:
                mask = pc.and_kleene(
                    mask, pc.not_equal(pc.bit_wise_and(flag, where.flag_any), 0)
                )
            if where.flag_none:
                mask = pc.and_kleene(
                    mask, pc.equal(pc.bit_wise_and(flag, where.flag_none), 0)
                )
        if where.id_contains:
            mask = pc.and_kleene(
                mask,
                pc.match_substring(
                    self.table["id"], where.id_contains, ignore_case=True
                ),
            )
        return mask

    def indices(self, where: Filter | None = None) -> np.ndarray:
        """Row numbers of the rows that pass ``where``, in catalogue order."""
        import pyarrow as pa
        import pyarrow.compute as pc

        where = where or Filter()
        mask = self._mask(where)
        if isinstance(mask, pa.Scalar):
            return np.arange(self.table.num_rows)
        return np.flatnonzero(pc.fill_null(mask, False).to_numpy(zero_copy_only=False))

    def page(
        self,
        where: Filter | None = None,
        *,
        sort: str | None = None,
        descending: bool = False,
        offset: int = 0,
        limit: int = 50,
    ) -> Page:
        """Rows ``offset .. offset + limit`` of the filtered, sorted catalogue
        (NaN and missing values sort last)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if limit < 0 or offset < 0:
            raise ValueError("offset and limit: expected >= 0")
        rows = self.indices(where)
        if sort:
            if sort not in self.table.column_names:
                raise ValueError(f"sort: no column {sort!r} in {self.path.name}")
            keys = self.table[sort].take(rows)
            order = pc.sort_indices(
                keys,
                sort_keys=[("", "descending" if descending else "ascending")],
            ).to_numpy()  # nulls last (the default)
            if pa.types.is_floating(keys.type):  # NaN after the numbers either way
                values = keys.to_numpy(zero_copy_only=False)[order]
                order = np.concatenate(
                    [order[~np.isnan(values)], order[np.isnan(values)]]
                )
            rows = rows[order]
        chosen = rows[offset : offset + limit]
        part = self.table.take(chosen).to_pylist()
        for r, i in zip(part, chosen, strict=True):
            r["_row"] = int(i)
            for k, v in r.items():
                r[k] = json_value(v)
        return Page(len(rows), offset, self.columns, part)

    def star(self, star_id: str) -> dict[str, Any]:
        """The row of ``star_id``.

        Raises:
            KeyError: no such star.
        """
        import pyarrow.compute as pc

        i = pc.index(
            self.table["id"], star_id
        ).as_py()  # a scan in Arrow: no index kept
        if i < 0:
            raise KeyError(star_id)
        row = self.table.slice(i, 1).to_pylist()[0]
        row["_row"] = i
        return {k: json_value(v) for k, v in row.items()}

    def columns_values(
        self, names: list[str], where: Filter | None = None, *, max_points: int = 20000
    ) -> dict[str, list[float | None]]:
        """Columns of the filtered rows for a plot, thinned evenly to ``max_points``."""
        rows = self.indices(where)
        if rows.size > max_points:
            rows = rows[np.linspace(0, rows.size - 1, max_points).astype(int)]
        out = {}
        for name in names:
            if name not in self.table.column_names:
                raise ValueError(f"no column {name!r} in {self.path.name}")
            values = self.table[name].take(rows).to_numpy(zero_copy_only=False)
            out[name] = [json_value(v) for v in values.tolist()]
        return out


def _read_arrow(path: Path):
    """Any catalogue as one Arrow table (field metadata: unit, description)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .catalogue import catalogue_format, read_catalogue_table, table_to_arrow

    try:
        if path.is_dir() or catalogue_format(path) != "parquet":
            return table_to_arrow(read_catalogue_table(path))
        table = pq.read_table(path, memory_map=True)
    except StarlabelInputError:
        raise
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise StarlabelInputError(
            f"not a readable catalogue: {' '.join(str(exc).split())[:200]}", path=path
        ) from exc
    if "id" not in table.column_names:
        raise StarlabelInputError("catalogue has no id column", path=path)
    return table
