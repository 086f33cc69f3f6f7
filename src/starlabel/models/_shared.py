"""Pieces every spectral model shares: device choice, input flux, grid checks, model
directory helpers, the training progress bar."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import StarlabelInputError
from ..spectra.container import Spectra
from ..spectra.preprocess import fill_masked
from ..training import History
from .persist import grid_fingerprint, load_tensors

__all__ = [
    "ProgressBar",
    "check_grid",
    "dense_flux",
    "device_of",
    "grid_manifest",
    "grid_tensors",
    "load_grid",
    "load_state",
]


def device_of(device: str | torch.device | None) -> torch.device:
    """``"auto"``/None: CUDA when present, else CPU."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def dense_flux(spectra: Spectra) -> tuple[np.ndarray, np.ndarray]:
    """Flux with masked pixels filled, and which spectra have no usable pixel."""
    dead = (spectra.ivar <= 0).all(axis=1) | ~np.isfinite(spectra.flux).any(axis=1)
    flux = fill_masked(spectra.flux, spectra.ivar, method="interp").astype(np.float32)
    flux[dead] = 1.0
    return flux, dead


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


def load_state(path: Path, file: str, module: torch.nn.Module) -> torch.nn.Module:
    """Load one safetensors file into ``module`` (strict), in eval mode."""
    state = load_tensors(path, file)
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise StarlabelInputError(
            f"{file} does not fit the architecture in model.json: {str(exc).splitlines()[0]}",
            path=path,
        ) from exc
    return module.eval()


class ProgressBar:
    """A rich progress bar over members and epochs (library code prints nothing else)."""

    def __init__(self, n_members: int, max_epochs: int) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self._p = Progress(
            TextColumn("[bold]train[/] {task.description}"),
            BarColumn(),
            TextColumn("{task.fields[losses]}"),
            TimeElapsedColumn(),
            transient=False,
        )
        self._p.start()
        self._task = self._p.add_task("", total=n_members * max_epochs, losses="")
        self._max = max_epochs
        self._n = n_members

    def member(self, k: int) -> Callable[[int, History], None]:
        def update(epoch: int, history: History) -> None:
            self._p.update(
                self._task,
                completed=k * self._max + epoch + 1,
                description=f"member {k + 1}/{self._n} epoch {epoch + 1}",
                losses=f"train {history.train_loss[-1]:.4f} valid {history.valid_loss[-1]:.4f}",
            )

        return update

    def close(self) -> None:
        self._p.update(self._task, completed=self._n * self._max)
        self._p.stop()
