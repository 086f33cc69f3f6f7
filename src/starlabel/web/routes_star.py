"""The star and map API: one star's spectrum from a dataset, the strong lines of a
wavelength range, and the similarity map with its placed stars."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query

from ..inference.query import CatalogueQuery, json_value
from .models import strong_lines
from .served import ServedFolder

__all__ = ["star_router"]


def star_router(site: ServedFolder) -> APIRouter:
    """``/api/dataset/star``, ``/api/map`` and ``/api/lines`` over ``site``."""
    router = APIRouter()

    @router.get("/api/dataset/star")
    def dataset_star(path: str, id: str) -> dict[str, Any]:  # noqa: A002
        target = site.inside(path)
        try:
            return site.spectra.star(target, id)
        except KeyError:
            raise HTTPException(404, f"no star {id!r} in {path}") from None

    @router.get("/api/map")
    def similarity_map(
        path: str, catalogue: str | None = None, color: str | None = None
    ) -> Any:
        """The map's points (training and placed stars); the placed stars coloured
        by ``color`` of ``catalogue`` (joined by id)."""
        table = CatalogueQuery(site.inside(f"{path}/map.csv")).table  # links out: 404
        out: dict[str, Any] = {
            name: [json_value(v) for v in table[name].to_pylist()]
            for name in ("id", "set", "x", "y", "ood_score")
            if name in table.column_names
        }
        if catalogue and color:
            query = site.catalogue_query(catalogue)
            if color not in query.columns:
                raise ValueError(f"color: no column {color!r} in {catalogue}")
            values = dict(
                zip(
                    query.table["id"].to_pylist(),
                    query.table[color].to_pylist(),
                    strict=True,
                )
            )
            out["color"] = [json_value(values.get(i)) for i in out["id"]]
        return out

    @router.get("/api/lines")
    def lines(lo: float, hi: float, n: int = Query(60, ge=1, le=500)) -> Any:
        return strong_lines(lo, hi, n)

    return router
