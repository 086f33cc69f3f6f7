"""The folder a web app serves and what it keeps in memory: every path a request
names resolved inside the folder (404 otherwise), a few catalogues open for queries,
the row numbers of one dataset's stars, and the loaded models."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from fastapi import HTTPException

from ..errors import StarlabelInputError
from ..inference.query import CatalogueQuery
from ..spectra.io.hdf5 import DatasetReader
from .models import ModelCache, json_curve

__all__ = ["MAX_TEXT", "ServedFolder", "SpectraCache"]

#: FITS and CSV catalogues are read whole; larger ones are refused (Parquet is not).
MAX_TEXT = 1 << 30


class ServedFolder:
    """The served folder ``root`` (resolved; must be a folder) and its caches."""

    def __init__(self, root: Path) -> None:
        root = Path(root).resolve()
        if not root.is_dir():
            raise StarlabelInputError("not a folder", path=root)
        self.root = root
        self.cache: dict[tuple[str, int], CatalogueQuery] = {}
        self.lock = threading.Lock()
        self.models = ModelCache()
        self.spectra = SpectraCache()

    def inside(self, relative: str) -> Path:
        """``relative`` resolved under ``root``; 404 for anything outside."""
        root = self.root
        target = (root / relative).resolve()
        if target != root and root not in target.parents:
            raise HTTPException(404, "not found")
        if not target.exists():
            raise HTTPException(404, "not found")
        return target

    def catalogue_query(self, relative: str) -> CatalogueQuery:
        """The query over the catalogue ``relative`` (kept while the file is
        unchanged; a too-large text catalogue: 413)."""
        path = self.inside(relative)
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
        cache = self.cache
        with self.lock:
            if key not in cache:
                query = CatalogueQuery(path)  # a bad file: 422 (the app's handler)
                for old in [k for k in cache if k[0] == key[0]]:
                    del cache[old]
                if len(cache) >= 4:  # a few catalogues in memory at most
                    cache.pop(next(iter(cache)))
                cache[key] = query
            return cache[key]

    def model_at(self, relative: str) -> Any:
        """The model in folder ``relative`` (404 when it is not a model folder)."""
        path = self.inside(relative)
        if not (path / "model.json").is_file():
            raise HTTPException(404, "not a model folder")
        return self.models.get(path)

    def row_of(self, dataset: str, star: str) -> tuple[Path, int]:
        """The dataset file ``dataset`` and the row of ``star`` in it (404s)."""
        path = self.inside(dataset)
        try:
            return path, self.spectra.row(path, star)
        except KeyError:
            raise HTTPException(404, f"no star {star!r} in {dataset}") from None


class SpectraCache:
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
        """The spectrum, labels and S/N of ``star_id`` in dataset ``path``."""
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
