"""Pieces every spectral model shares: device choice, input flux, grid checks, model
directory helpers, the training progress bar."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator

from .. import __version__
from ..errors import StarlabelInputError
from ..spectra.container import Spectra
from ..spectra.labels import label_spec
from ..spectra.preprocess import fill_masked
from ..training import History
from .base import NotFittedError
from .persist import grid_fingerprint, load_tensors

__all__ = [
    "ProgressBar",
    "SpectralModel",
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


class SpectralModel(BaseEstimator):
    """What every starlabel estimator shares: fitted-state check, grid check, label
    bookkeeping and the common part of ``model.json``. Subclasses set ``_fitted_attr``
    and ``_default_config``."""

    _fitted_attr = ""

    def __init__(
        self,
        config: Any = None,
        *,
        labels: Sequence[str] | None = None,
        device: str = "auto",
        random_state: int = 0,
        show_progress: bool = False,
    ) -> None:
        self.config = config
        self.labels = labels
        self.device = device
        self.random_state = random_state
        self.show_progress = show_progress

    def _complete_sets(
        self,
        train: Spectra,
        validation: Spectra | None,
        names: Sequence[str],
        valid_fraction: float,
    ) -> tuple[Spectra, Spectra]:
        """Training and validation stars that have every label in ``names`` (the
        dropped training stars are counted in ``n_dropped_``); without a validation
        set, ``valid_fraction`` of the training stars, seeded by ``random_state``."""
        complete = np.isfinite(train.label_array(names)).all(axis=1)
        self.n_dropped_ = int((~complete).sum())
        train = train[complete]
        if validation is None:
            return train.split(
                (1 - valid_fraction, valid_fraction), seed=self.random_state
            )
        return train, validation[np.isfinite(validation.label_array(names)).all(axis=1)]

    def _record_training(self, train: Spectra, names: Sequence[str]) -> None:
        """Fingerprint, size and label ranges of the training set (``model.json``)."""
        self.training_fingerprint_ = hashlib.sha256(
            np.ascontiguousarray(train.flux[: min(64, train.n_spectra)]).tobytes()
            + "|".join(train.ids[:64]).encode()
        ).hexdigest()[:16]
        self.n_train_ = train.n_spectra
        self.label_range_ = {
            n: [float(np.nanmin(train.labels[n])), float(np.nanmax(train.labels[n]))]
            for n in names
        }

    def _check_fitted(self) -> None:
        if not hasattr(self, self._fitted_attr):
            raise NotFittedError(
                f"{type(self).__name__} is not fitted yet; call fit() or starlabel.load()"
            )

    def check_grid(self, spectra: Spectra, source: str | None = None) -> None:
        """Refuse spectra on another wavelength grid than the training grid."""
        self._check_fitted()
        check_grid(self.wavelength_, spectra, source)

    def _set_labels(self, train: Spectra) -> list[str]:
        """Label names and units from ``self.labels`` (default: all of ``train``)."""
        names = list(self.labels) if self.labels is not None else train.label_names
        if not names:
            raise ValueError("train: the training set has no labels")
        missing = [n for n in names if n not in train.labels]
        if missing:
            raise ValueError(
                f"labels: {missing} not in the training set; it has {train.label_names}"
            )
        self.label_names_ = tuple(names)
        self.label_units_ = tuple(
            train.label_units.get(n, label_spec(n).unit) for n in names
        )
        return names

    def _manifest(self, kind: str) -> dict[str, Any]:
        """The part of ``model.json`` every model writes."""
        return {
            "class": type(self).__name__,
            "kind": kind,
            "starlabel_version": __version__,
            "torch_version": torch.__version__,
            "config": self._config.to_dict(),
            "label_spec": [
                {"name": n, "unit": u}
                for n, u in zip(self.label_names_, self.label_units_, strict=True)
            ],
            "grid": grid_manifest(self.wavelength_, self.medium_),
            "random_state": self.random_state,
        }

    def _restore(self, path: Path, manifest: dict[str, Any]) -> None:
        """Labels, grid and training summary back from a model directory."""
        self.label_names_ = tuple(d["name"] for d in manifest["label_spec"])
        self.label_units_ = tuple(d.get("unit", "") for d in manifest["label_spec"])
        self.wavelength_, self.medium_ = load_grid(path, manifest)
        training = manifest.get("training", {})
        self.training_fingerprint_ = training.get("fingerprint", "")
        self.n_train_ = training.get("n_spectra", 0)
        self.label_range_ = training.get("label_range", {})
        self.history_ = []
