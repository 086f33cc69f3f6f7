"""The model API: a model's description, saliency of one star, the emulator at
changed labels, a star re-generated with changed labels, and posterior draws."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from .models import edited, emulated, model_info, posterior, saliency_of
from .served import ServedFolder

__all__ = ["model_router"]


def _changes(items: list[str]) -> dict[str, float]:
    """``["teff=5000", ...]`` -> ``{"teff": 5000.0, ...}``."""
    out = {}
    for item in items:
        name, _, value = item.partition("=")
        try:
            out[name] = float(value)
        except ValueError:
            raise ValueError(f"set: expected NAME=VALUE, got {item!r}") from None
    return out


def model_router(site: ServedFolder) -> APIRouter:
    """``/api/model/{saliency,info,emulate,edit,posterior}`` over ``site``."""
    router = APIRouter()

    @router.get("/api/model/saliency")
    def model_saliency(path: str, dataset: str, id: str, label: str) -> Any:  # noqa: A002
        model = site.model_at(path)
        target, row = site.row_of(dataset, id)
        return saliency_of(model, target, row, label)

    @router.get("/api/model/info")
    def model_information(path: str) -> dict[str, Any]:
        return model_info(site.model_at(path))

    @router.get("/api/model/emulate")
    def model_emulate(path: str, set_: list[str] = Query([], alias="set")) -> Any:  # noqa: B008
        return emulated(site.model_at(path), _changes(set_))

    @router.get("/api/model/edit")
    def model_edit(
        path: str,
        dataset: str,
        id: str,  # noqa: A002
        set_: list[str] = Query([], alias="set"),  # noqa: B008
    ) -> Any:
        model = site.model_at(path)
        target, row = site.row_of(dataset, id)
        return edited(model, target, row, _changes(set_))

    @router.get("/api/model/posterior")
    def model_posterior(
        path: str,
        dataset: str,
        id: str,
        n: int = Query(1000, ge=10, le=20000),  # noqa: A002
    ) -> Any:
        model = site.model_at(path)
        target, row = site.row_of(dataset, id)
        return posterior(model, target, row, n)

    return router
