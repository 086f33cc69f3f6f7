"""The catalogue API: the files under the folder, a page of a catalogue (sorted,
filtered), the points of a plot, a catalogue's columns and metadata, one star."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query

from ..inference.query import Filter
from ..spectra.flags import Flag
from .listing import dataset_for, find_files
from .served import ServedFolder

__all__ = ["MAX_PAGE", "catalogue_router"]

MAX_PAGE = 1000


def _range(text: str) -> tuple[str, tuple[float | None, float | None]]:
    """``teff:4000:5000`` (an empty side is open) -> ("teff", (4000.0, 5000.0))."""
    try:
        name, lo, hi = text.split(":")
        return name, (float(lo) if lo else None, float(hi) if hi else None)
    except ValueError:
        raise ValueError(f"range: expected NAME:LOW:HIGH, got {text!r}") from None


def catalogue_router(site: ServedFolder) -> APIRouter:
    """``/api/files`` and ``/api/catalogue[/points|/meta|/star]`` over ``site``."""
    router = APIRouter()

    @router.get("/api/files")
    def files() -> dict[str, list[str]]:
        return find_files(site.root)

    @router.get("/api/catalogue")
    def catalogue_page(
        path: str,
        offset: int = Query(0, ge=0),
        limit: int = Query(50, ge=0, le=MAX_PAGE),
        sort: str | None = None,
        descending: bool = False,
        range_: list[str] = Query([], alias="range"),  # noqa: B008
        flag_any: int = 0,
        flag_none: int = 0,
        q: str = "",
    ) -> dict[str, Any]:
        query = site.catalogue_query(path)
        where = Filter(dict(_range(r) for r in range_), flag_any, flag_none, q)
        page = query.page(
            where, sort=sort, descending=descending, offset=offset, limit=limit
        )
        return {
            "path": path,
            "total": page.total,
            "n_rows": len(query),
            "offset": page.offset,
            "columns": page.columns,
            "units": query.units,
            "descriptions": query.descriptions,
            "rows": page.rows,
        }

    @router.get("/api/catalogue/points")
    def catalogue_points(
        path: str,
        columns: list[str] = Query(...),  # noqa: B008
        range_: list[str] = Query([], alias="range"),  # noqa: B008
        flag_any: int = 0,
        flag_none: int = 0,
        q: str = "",
        max_points: int = Query(20000, ge=1, le=200000),
    ) -> dict[str, Any]:
        query = site.catalogue_query(path)
        where = Filter(dict(_range(r) for r in range_), flag_any, flag_none, q)
        return query.columns_values(columns, where, max_points=max_points)

    @router.get("/api/catalogue/meta")
    def catalogue_meta(path: str) -> dict[str, Any]:
        query = site.catalogue_query(path)
        return {
            "path": path,
            "n_rows": len(query),
            "columns": query.columns,
            "units": query.units,
            "descriptions": query.descriptions,
            "meta": query.meta,
            "flags": {f.name: int(f.value) for f in Flag},
        }

    @router.get("/api/catalogue/star")
    def catalogue_star(path: str, id: str) -> dict[str, Any]:  # noqa: A002
        query = site.catalogue_query(path)
        try:
            row = query.star(id)
        except KeyError:
            raise HTTPException(404, f"no star {id!r} in {path}") from None
        source = row.get("source") or query.meta.get("SLINPUT", "")
        row["_dataset"] = dataset_for(site.root, site.inside(path), str(source))
        return row

    return router
