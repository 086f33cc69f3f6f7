"""Model directories for every estimator: what ``save`` writes (``model.json``,
the grid, the weight files, ``history.json``, ``config.toml``) and what loading
restores before each model's own state (``from_manifest``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..errors import StarlabelInputError
from .grid import grid_manifest, grid_tensors, load_grid
from .persist import save_model_dir
from .reliability import (
    reliability_parts,
    restore_reliability,
)


class ModelDirectory:
    """Mixin of :class:`~starlabel.models._shared.SpectralModel`: saving to and
    restoring from a model directory (``models/persist.py`` writes the files).
    Each model supplies ``_save_parts`` (its manifest entries, tensors and
    history) and ``from_manifest``."""

    # ---------------------------------------------------------- save/load
    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write the model directory: ``model.json``, the weight files,
        ``history.json`` and ``config.toml``.

        Args:
            path: a new directory, or (with ``overwrite``) one starlabel wrote.
            overwrite: replace an earlier model directory.
        """
        self._check_fitted()
        manifest, files, history = self._save_parts()
        rel_manifest, rel_files = reliability_parts(self)
        return save_model_dir(
            path,
            self._manifest() | manifest | rel_manifest,
            files | rel_files | {"grid.safetensors": grid_tensors(self.wavelength_)},
            history=history,
            texts={"config.toml": self.run_toml()},
            overwrite=overwrite,
        )

    def _save_parts(self) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        raise NotImplementedError

    def _manifest(self) -> dict[str, Any]:
        """The part of ``model.json`` every model writes."""
        return {
            "class": type(self).__name__,
            "kind": self.kind,
            "starlabel_version": __version__,
            "torch_version": torch.__version__,
            "config": self._config.to_dict(),
            "label_spec": [
                {"name": n, "unit": u}
                for n, u in zip(self.label_names_, self.label_units_, strict=True)
            ],
            "grid": grid_manifest(self.wavelength_, self.medium_),
            "random_state": self.random_state,
            "uncertainty_parts": dict(
                self.uncertainty_parts_for(self.predict_options())
            ),
            "loss": self.loss_name,
            "warnings": list(getattr(self, "fit_warnings_", [])),
            "training": {
                "fingerprint": self.training_fingerprint_,
                "n_spectra": self.n_train_,
                "n_dropped_incomplete_labels": getattr(self, "n_dropped_", 0),
                "label_range": self.label_range_,
            },
        }

    @classmethod
    def _manifest_basics(
        cls, path: Path, manifest: dict[str, Any]
    ) -> tuple[Any, list[str]]:
        """The config and label names of ``model.json`` (a one-line error if broken)."""
        try:
            config = cls.config_class.from_dict(manifest["config"])
            names = [d["name"] for d in manifest["label_spec"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise StarlabelInputError(
                f"model.json is incomplete or invalid: {exc}", path=path
            ) from exc
        return config, names

    def _restore(self, path: Path, manifest: dict[str, Any]) -> None:
        """Labels, grid and training summary back from a model directory."""
        self.label_names_ = tuple(d["name"] for d in manifest["label_spec"])
        self.label_units_ = tuple(d.get("unit", "") for d in manifest["label_spec"])
        self.wavelength_, self.medium_ = load_grid(path, manifest)
        training = manifest.get("training", {})
        self.training_fingerprint_ = training.get("fingerprint", "")
        self.n_train_ = training.get("n_spectra", 0)
        self.label_range_ = training.get("label_range", {})
        self.n_dropped_ = training.get("n_dropped_incomplete_labels", 0)
        self.fit_warnings_ = list(manifest.get("warnings", []))
        self.history_ = []
        restore_reliability(self, path, manifest)
