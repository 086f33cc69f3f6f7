"""``starlabel serve``: the local web app over a folder (127.0.0.1 by default)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._app import console, warn


def serve(
    folder: Annotated[
        Path, typer.Argument(help="Folder of datasets, catalogues and models to serve.")
    ],
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8765,
    host: Annotated[
        str,
        typer.Option(
            "--host",
            help="Address to listen on; anything but 127.0.0.1 lets other machines in.",
        ),
    ] = "127.0.0.1",
) -> None:
    """Serve a folder read-only to a local web app (catalogue, star, spectrum editor, posterior and map pages)."""
    try:
        import uvicorn

        from ..web.app import create_app
    except ImportError:
        raise ValueError(
            "serve needs the web extra: pip install 'starlabel[web]'"
        ) from None
    app = create_app(folder)
    if host not in ("127.0.0.1", "localhost", "::1"):
        warn(
            f"listening on {host}: anyone who can reach this machine can read the files "
            f"under {folder}"
        )
    console.print(f"serving {folder.resolve()} at http://{host}:{port}/ (Ctrl-C stops)")
    uvicorn.run(app, host=host, port=port, log_level="warning")
