"""Figures written as PNG files that say starlabel wrote them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..._atomic import atomic_path
from ..._owned import creator
from ..._typing import PathLike

__all__ = ["save_png"]


def save_png(fig: Any, path: PathLike, *, dpi: int = 100, **kwargs: Any) -> Path:
    """Write ``fig`` to ``path`` as PNG, atomically, with the ``Software`` text
    chunk ``starlabel <version>`` (the ownership marker of :mod:`starlabel._owned`)."""
    with atomic_path(path) as tmp:
        fig.savefig(
            tmp, dpi=dpi, format="png", metadata={"Software": creator()}, **kwargs
        )
    return Path(path)
