"""The HTML pieces of ``starlabel report``: a section (title, caption, embedded PNGs,
extra HTML), tables, and the page that holds them (self-contained: images are
base64, no external file or script)."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._owned import creator

__all__ = ["Section", "file_png", "html_page", "html_table", "png"]


@dataclass
class Section:
    """One section of the report."""

    title: str
    caption: str
    images: list[str] = field(default_factory=list)  # base64 PNG
    html: str = ""


def png(fig: Any) -> str:
    """A matplotlib figure as base64 PNG (the figure is closed)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=85)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def file_png(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")


def html_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return "nan" if not np.isfinite(v) else f"{v:.4g}"
        return html.escape(str(v))

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r) + "</tr>" for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def html_page(title: str, sections: Sequence[Section]) -> str:
    """The whole page: title, table of contents, sections."""
    style = (
        "body{font-family:sans-serif;max-width:1200px;margin:auto;padding:1em}"
        "img{max-width:100%;display:block;margin:.5em 0}table{border-collapse:collapse;font-size:12px}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}.cap{color:#444;font-style:italic}"
        "h3{font-size:1em;margin-top:1.2em}"
    )
    toc = "".join(
        f'<li><a href="#s{i}">{html.escape(s.title)}</a></li>'
        for i, s in enumerate(sections)
    )
    body = ""
    for i, s in enumerate(sections):
        imgs = "".join(
            f'<img alt="{html.escape(s.title)}" src="data:image/png;base64,{b}">'
            for b in s.images
        )
        body += f'<section id="s{i}"><h2>{html.escape(s.title)}</h2><p class="cap">{html.escape(s.caption)}</p>{imgs}{s.html}</section>'
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><meta name='generator' content='{html.escape(creator())}'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body><h1>{html.escape(title)}</h1><ol>{toc}</ol>{body}</body></html>"
    )
