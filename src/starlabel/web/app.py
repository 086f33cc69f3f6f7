"""The web app's HTTP API (FastAPI) over one folder, read-only.

Only files under the folder are served: every path a request names is resolved
and must stay inside it (a request for ``..`` or a link pointing out gets 404).
Nothing in the folder is executed or unpickled: catalogues are read as tables,
datasets through the dataset reader, models through ``starlabel.load``.

The routes live in one router per part of the page (``routes_catalogue``,
``routes_star``, ``routes_model``, ``routes_static``) over the folder and its
caches (:class:`~starlabel.web.served.ServedFolder`); :func:`create_app` assembles them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import StarlabelInputError
from .listing import find_files

__all__ = ["create_app", "find_files"]


def create_app(root: Path) -> Any:
    """The FastAPI application serving ``root``."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    from .routes_catalogue import catalogue_router
    from .routes_model import model_router
    from .routes_star import star_router
    from .routes_static import static_router
    from .served import ServedFolder

    site = ServedFolder(root)
    app = FastAPI(title="starlabel", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(StarlabelInputError)
    async def bad_file(request: Any, exc: StarlabelInputError) -> Any:
        """A file that cannot be read: 422 with the reason; the server stays up."""
        return JSONResponse(status_code=422, content={"detail": exc.problem})

    @app.exception_handler(ValueError)
    async def bad_request(request: Any, exc: ValueError) -> Any:
        return JSONResponse(
            status_code=400, content={"detail": " ".join(str(exc).split())}
        )

    app.include_router(catalogue_router(site))
    app.include_router(star_router(site))
    app.include_router(model_router(site))
    app.include_router(static_router())
    return app
