"""The page itself: ``index.html``, the files beside it and Plotly.js as shipped in
the plotly package (the app needs no network)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, HTMLResponse, Response

__all__ = ["plotly_js", "static_router"]

STATIC = Path(__file__).with_name("static")


def plotly_js() -> Path:
    """Plotly.js as shipped inside the plotly Python package (no network)."""
    import plotly

    return Path(plotly.__file__).with_name("package_data") / "plotly.min.js"


def static_router() -> APIRouter:
    """``/``, ``/favicon.ico`` and ``/static/{name}``."""
    router = APIRouter()
    static = STATIC

    @router.get("/", response_class=HTMLResponse)
    def index() -> Any:
        return HTMLResponse((static / "index.html").read_text(encoding="utf-8"))

    @router.get("/favicon.ico")
    def favicon() -> Any:
        return Response(status_code=204)

    @router.get("/static/{name}")
    def static_file(name: str) -> Any:
        if name == "plotly.min.js":
            return FileResponse(plotly_js(), media_type="text/javascript")
        target = (static / name).resolve()
        if target.parent != static.resolve() or not target.is_file():
            raise HTTPException(404, "not found")
        return FileResponse(target)

    return router
