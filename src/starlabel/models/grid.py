"""The wavelength grid a model was trained on: its check, its summary in
model.json and its tensor file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import StarlabelInputError
from ..spectra.container import Spectra
from .persist import grid_fingerprint, load_tensors


def check_grid(
    wavelength: np.ndarray, spectra: Spectra, source: str | None = None
) -> None:
    """Refuse spectra on another wavelength grid than ``wavelength`` (Angstrom)."""
    wl = spectra.wavelength_aa
    if wl.size != wavelength.size or not np.allclose(wl, wavelength, rtol=0, atol=1e-4):
        raise StarlabelInputError(
            f"wavelength grid ({wl.size} px, {wl[0]:.2f}-{wl[-1]:.2f} A) differs from the model's "
            f"({wavelength.size} px, {wavelength[0]:.2f}-{wavelength[-1]:.2f} A); "
            "resample it with `starlabel prepare --grid MODEL_GRID`",
            path=source,
        )


def grid_manifest(wavelength: np.ndarray, medium: str) -> dict[str, Any]:
    """The ``grid`` section of ``model.json``."""
    return {
        "n_pixels": int(wavelength.size),
        "min": float(wavelength[0]),
        "max": float(wavelength[-1]),
        "medium": medium,
        "unit": "Angstrom",
        "sha256": grid_fingerprint(wavelength),
    }


def grid_tensors(wavelength: np.ndarray) -> dict[str, torch.Tensor]:
    """Contents of ``grid.safetensors``."""
    return {"wavelength": torch.as_tensor(wavelength, dtype=torch.float64)}


def load_grid(path: Path, manifest: dict[str, Any]) -> tuple[np.ndarray, str]:
    """Wavelength grid and medium of a model directory, checked against its manifest."""
    wavelength = load_tensors(path, "grid.safetensors")["wavelength"].numpy()
    if grid_fingerprint(wavelength) != manifest.get("grid", {}).get("sha256"):
        raise StarlabelInputError(
            "grid.safetensors does not match the grid in model.json", path=path
        )
    return wavelength, manifest["grid"].get("medium", "air")
