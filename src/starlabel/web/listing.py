"""What the web app lists under its folder: datasets, catalogues (files and part
folders), model folders and similarity maps; and the dataset a catalogue came from."""

from __future__ import annotations

import os
from pathlib import Path

from ..inference.catalogue import CATALOGUE_SUFFIXES
from ..inference.parts import MANIFEST

__all__ = ["DATASET_SUFFIXES", "dataset_for", "find_files"]

DATASET_SUFFIXES = (".h5", ".hdf5")


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
