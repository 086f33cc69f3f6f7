"""The web app's HTTP API (FastAPI) over one folder, read-only.

Only files under the folder are served: every path a request names is resolved
and must stay inside it (a request for ``..`` or a link pointing out gets 404).
Nothing in the folder is executed or unpickled: catalogues are read as tables,
datasets through the dataset reader, models through ``starlabel.load``.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from ..errors import StarlabelInputError
from ..inference.catalogue import CATALOGUE_SUFFIXES
from ..inference.parts import MANIFEST
from ..inference.query import CatalogueQuery, Filter, json_value
from ..spectra.flags import Flag
from ..spectra.io.hdf5 import DatasetReader
from .models import (
    ModelCache,
    edited,
    emulated,
    json_curve,
    model_info,
    posterior,
    saliency_of,
    strong_lines,
)

__all__ = ["create_app", "find_files"]

DATASET_SUFFIXES = (".h5", ".hdf5")
MAX_PAGE = 1000
#: FITS and CSV catalogues are read whole; larger ones are refused (Parquet is not).
MAX_TEXT = 1 << 30


def find_files(root: Path, *, limit: int = 2000) -> dict[str, list[str]]:
    """Datasets, catalogues (files and part folders) and model folders under
    ``root`` (relative paths, sorted; hidden and ``_`` entries skipped)."""
    out: dict[str, list[str]] = {
        "datasets": [],
        "catalogues": [],
        "models": [],
        "maps": [],
    }
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
        rel = here.relative_to(root)
        if "model.json" in files:
            out["models"].append(str(rel))
        if MANIFEST in files and here != root:
            # a run's parts: the folder is one catalogue (a folder output, or the
            # parts of a run not finished yet), its part files are not listed
            done = here.name.endswith(".parts") and here.with_suffix("").is_file()
            if not done:
                out["catalogues"].append(str(rel) + "/")
            dirs[:] = []
            continue
        is_map = "map.safetensors" in files and "map.csv" in files
        if is_map:
            out["maps"].append(str(rel))
        for name in sorted(files):
            if name.startswith((".", "_")):
                continue
            real = (here / name).resolve()
            if root.resolve() not in real.parents:
                continue  # a link out of the folder: not served, not listed
            suffix = Path(name).suffix.lower()
            if suffix in DATASET_SUFFIXES:
                out["datasets"].append(str(rel / name))
            elif (
                suffix in CATALOGUE_SUFFIXES
                and not name.endswith(".rejected.csv")
                and not (is_map and name == "map.csv")
            ):
                out["catalogues"].append(str(rel / name))
        if sum(len(v) for v in out.values()) >= limit:
            break
    return out


def _range(text: str) -> tuple[str, tuple[float | None, float | None]]:
    """``teff:4000:5000`` (an empty side is open) -> ("teff", (4000.0, 5000.0))."""
    try:
        name, lo, hi = text.split(":")
        return name, (float(lo) if lo else None, float(hi) if hi else None)
    except ValueError:
        raise ValueError(f"range: expected NAME:LOW:HIGH, got {text!r}") from None


def create_app(root: Path) -> Any:
    """The FastAPI application serving ``root``."""
    from fastapi import FastAPI, HTTPException, Query
    from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

    root = Path(root).resolve()
    if not root.is_dir():
        raise StarlabelInputError("not a folder", path=root)
    app = FastAPI(title="starlabel", docs_url=None, redoc_url=None, openapi_url=None)
    cache: dict[tuple[str, int], CatalogueQuery] = {}
    lock = threading.Lock()

    def inside(relative: str) -> Path:
        """``relative`` resolved under ``root``; 404 for anything outside."""
        target = (root / relative).resolve()
        if target != root and root not in target.parents:
            raise HTTPException(404, "not found")
        if not target.exists():
            raise HTTPException(404, "not found")
        return target

    def catalogue_query(relative: str) -> CatalogueQuery:
        path = inside(relative)
        if (
            path.is_file()
            and path.suffix.lower() != ".parquet"
            and path.stat().st_size > MAX_TEXT
        ):
            raise HTTPException(
                413,
                f"{relative} is {path.stat().st_size / 2**30:.1f} GiB: too large to read whole "
                "here; write it as Parquet (predict -o cat.parquet), which is read by column",
            )
        stamp = path.stat().st_mtime_ns
        key = (str(path), stamp)
        with lock:
            if key not in cache:
                query = CatalogueQuery(path)  # a bad file: 422 (handler below)
                for old in [k for k in cache if k[0] == key[0]]:
                    del cache[old]
                if len(cache) >= 4:  # a few catalogues in memory at most
                    cache.pop(next(iter(cache)))
                cache[key] = query
            return cache[key]

    @app.exception_handler(StarlabelInputError)
    async def bad_file(request: Any, exc: StarlabelInputError) -> Any:
        """A file that cannot be read: 422 with the reason; the server stays up."""
        return JSONResponse(status_code=422, content={"detail": exc.problem})

    @app.exception_handler(ValueError)
    async def bad_request(request: Any, exc: ValueError) -> Any:
        return JSONResponse(
            status_code=400, content={"detail": " ".join(str(exc).split())}
        )

    @app.get("/api/files")
    def files() -> dict[str, list[str]]:
        return find_files(root)

    @app.get("/api/catalogue")
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
        query = catalogue_query(path)
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

    @app.get("/api/catalogue/points")
    def catalogue_points(
        path: str,
        columns: list[str] = Query(...),  # noqa: B008
        range_: list[str] = Query([], alias="range"),  # noqa: B008
        flag_any: int = 0,
        flag_none: int = 0,
        q: str = "",
        max_points: int = Query(20000, ge=1, le=200000),
    ) -> dict[str, Any]:
        query = catalogue_query(path)
        where = Filter(dict(_range(r) for r in range_), flag_any, flag_none, q)
        return query.columns_values(columns, where, max_points=max_points)

    @app.get("/api/catalogue/meta")
    def catalogue_meta(path: str) -> dict[str, Any]:
        query = catalogue_query(path)
        return {
            "path": path,
            "n_rows": len(query),
            "columns": query.columns,
            "units": query.units,
            "descriptions": query.descriptions,
            "meta": query.meta,
            "flags": {f.name: int(f.value) for f in Flag},
        }

    @app.get("/api/catalogue/star")
    def catalogue_star(path: str, id: str) -> dict[str, Any]:  # noqa: A002
        query = catalogue_query(path)
        try:
            row = query.star(id)
        except KeyError:
            raise HTTPException(404, f"no star {id!r} in {path}") from None
        source = row.get("source") or query.meta.get("SLINPUT", "")
        row["_dataset"] = dataset_for(root, inside(path), str(source))
        return row

    @app.get("/api/dataset/star")
    def dataset_star(path: str, id: str) -> dict[str, Any]:  # noqa: A002
        target = inside(path)
        try:
            return spectra.star(target, id)
        except KeyError:
            raise HTTPException(404, f"no star {id!r} in {path}") from None

    models = ModelCache()

    def model_at(relative: str) -> Any:
        path = inside(relative)
        if not (path / "model.json").is_file():
            raise HTTPException(404, "not a model folder")
        return models.get(path)

    def row_of(dataset: str, star: str) -> tuple[Path, int]:
        path = inside(dataset)
        try:
            return path, spectra.row(path, star)
        except KeyError:
            raise HTTPException(404, f"no star {star!r} in {dataset}") from None

    def changes(items: list[str]) -> dict[str, float]:
        out = {}
        for item in items:
            name, _, value = item.partition("=")
            try:
                out[name] = float(value)
            except ValueError:
                raise ValueError(f"set: expected NAME=VALUE, got {item!r}") from None
        return out

    @app.get("/api/map")
    def similarity_map(
        path: str, catalogue: str | None = None, color: str | None = None
    ) -> Any:
        """The map's points (training and placed stars); the placed stars coloured
        by ``color`` of ``catalogue`` (joined by id)."""
        table = CatalogueQuery(inside(f"{path}/map.csv")).table  # links out: 404
        out: dict[str, Any] = {
            name: [json_value(v) for v in table[name].to_pylist()]
            for name in ("id", "set", "x", "y", "ood_score")
            if name in table.column_names
        }
        if catalogue and color:
            query = catalogue_query(catalogue)
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

    @app.get("/api/lines")
    def lines(lo: float, hi: float, n: int = Query(60, ge=1, le=500)) -> Any:
        return strong_lines(lo, hi, n)

    @app.get("/api/model/saliency")
    def model_saliency(path: str, dataset: str, id: str, label: str) -> Any:  # noqa: A002
        model = model_at(path)
        target, row = row_of(dataset, id)
        return saliency_of(model, target, row, label)

    @app.get("/api/model/info")
    def model_information(path: str) -> dict[str, Any]:
        return model_info(model_at(path))

    @app.get("/api/model/emulate")
    def model_emulate(path: str, set_: list[str] = Query([], alias="set")) -> Any:  # noqa: B008
        return emulated(model_at(path), changes(set_))

    @app.get("/api/model/edit")
    def model_edit(
        path: str,
        dataset: str,
        id: str,  # noqa: A002
        set_: list[str] = Query([], alias="set"),  # noqa: B008
    ) -> Any:
        model = model_at(path)
        target, row = row_of(dataset, id)
        return edited(model, target, row, changes(set_))

    @app.get("/api/model/posterior")
    def model_posterior(
        path: str,
        dataset: str,
        id: str,
        n: int = Query(1000, ge=10, le=20000),  # noqa: A002
    ) -> Any:
        model = model_at(path)
        target, row = row_of(dataset, id)
        return posterior(model, target, row, n)

    static = Path(__file__).with_name("static")

    @app.get("/", response_class=HTMLResponse)
    def index() -> Any:
        return HTMLResponse((static / "index.html").read_text(encoding="utf-8"))

    @app.get("/favicon.ico")
    def favicon() -> Any:
        return Response(status_code=204)

    @app.get("/static/{name}")
    def static_file(name: str) -> Any:
        if name == "plotly.min.js":
            return FileResponse(plotly_js(), media_type="text/javascript")
        target = (static / name).resolve()
        if target.parent != static.resolve() or not target.is_file():
            raise HTTPException(404, "not found")
        return FileResponse(target)

    spectra = _SpectraCache()
    return app


def plotly_js() -> Path:
    """Plotly.js as shipped inside the plotly Python package (no network)."""
    import plotly

    return Path(plotly.__file__).with_name("package_data") / "plotly.min.js"


def dataset_for(root: Path, catalogue: Path, name: str) -> str | None:
    """The dataset file a catalogue's stars came from: a file of that name beside the
    catalogue, else anywhere under ``root`` (relative path), else None."""
    if not name or name.endswith(" files"):
        return None
    for folder in (catalogue.parent, *catalogue.parents):
        candidate = folder / name
        if candidate.is_file() and (root == folder or root in folder.parents):
            return str(candidate.relative_to(root))
        if folder == root:
            break
    for rel in find_files(root)["datasets"]:
        if Path(rel).name == name:
            return rel
    return None


class _SpectraCache:
    """Row numbers by id of the dataset files asked for (ids read once per file)."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, int], dict[str, int]] = {}
        self.lock = threading.Lock()

    def row(self, path: Path, star_id: str) -> int:
        """The row of ``star_id`` in dataset ``path`` (KeyError when absent)."""
        key = (str(path), path.stat().st_mtime_ns)
        with self.lock:
            if key not in self.rows:
                import h5py

                with DatasetReader(path):  # a starlabel dataset, or a one-line error
                    pass
                with h5py.File(path, "r") as f:
                    ds = f["meta/id"]
                    text = ds.dtype.kind in "OSU" or h5py.check_string_dtype(ds.dtype)
                    ids = ds.asstr()[:] if text else ds[:]
                self.rows = {
                    key: {str(s): i for i, s in enumerate(ids)}
                }  # one file kept
            return self.rows[key][star_id]

    def star(self, path: Path, star_id: str) -> dict[str, Any]:
        import numpy as np

        row = self.row(path, star_id)
        with DatasetReader(path) as reader:
            sp = reader.read(slice(row, row + 1))
        ivar = np.asarray(sp.ivar[0], float)
        flux = np.asarray(sp.flux[0], float)
        good = (ivar > 0) & np.isfinite(flux)
        sigma = np.where(good, 1.0 / np.sqrt(np.where(good, ivar, 1.0)), np.nan)
        curve = json_curve(
            sp.wavelength_aa, np.where(good, flux, np.nan), sigma, (~good).astype(float)
        )
        masked = [1 if m else 0 for m in curve["curves"][2]]  # null (a gap): not masked
        return {
            "id": star_id,
            "row": row,
            "wavelength": curve["wavelength"],
            "flux": curve["curves"][0],
            "sigma": curve["curves"][1],
            "masked": masked,
            "labels": {
                k: (None if not np.isfinite(v[0]) else float(v[0]))
                for k, v in sp.labels.items()
            },
            "snr": float(sp.meta["snr"][0]) if "snr" in sp.meta else None,
        }
