"""Model directories for every estimator: what ``save`` writes (``model.json``,
the grid, the weight files, ``history.json``, ``config.toml``) and the one loading
path (``from_manifest``): config, labels, grid, training record, the members'
networks, then each model's own state.

Every ``model.json`` lists its networks as ``members``: ``{file, seed,
best_valid_loss}`` each, the kept ones, best first; ``history.json`` holds every
trained member's history under ``members``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch

from .. import __version__
from ..errors import StarlabelInputError
from .grid import grid_manifest, grid_tensors, load_grid
from .persist import save_model_dir
from .reliability import (
    reliability_parts,
    restore_reliability,
)
from .tensors import device_of, load_state


class ModelDirectory:
    """Mixin of :class:`~starlabel.models._shared.SpectralModel`: saving to and
    restoring from a model directory (``models/persist.py`` writes the files).
    Each model supplies an empty network to load weights into
    (``_empty_network``) and, where it has any, its own manifest entries and files
    (``_state_parts``) and how they come back (``_restore_state``)."""

    #: weight file of a single-network model; ensembles write member-NN files.
    weight_file: ClassVar[str] = ""

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
        """The members' manifest entries and weight files with the model's own
        (``_state_parts``), and the history."""
        names = self._member_files()
        members = [
            {"file": f, "seed": int(s), "best_valid_loss": float(x)}
            for f, s, x in zip(
                names, self.member_seeds_, self.member_losses_, strict=True
            )
        ]
        own, own_files = self._state_parts()
        files = {f: m.state_dict() for f, m in zip(names, self.members_, strict=True)}
        return {"members": members} | own, files | own_files, {"members": self.history_}

    def _member_files(self) -> list[str]:
        if self.weight_file and len(self.members_) == 1:
            return [self.weight_file]
        return [f"member-{k:02d}.safetensors" for k in range(len(self.members_))]

    def _state_parts(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The model's own ``model.json`` entries and files besides its members."""
        return {}, {}

    def _empty_network(self, seed: int, path: Path, file: str) -> torch.nn.Module:
        """A network of the saved architecture to load ``file`` into."""
        raise NotImplementedError

    def _restore_state(self, path: Path, manifest: dict[str, Any]) -> None:
        """What :meth:`_state_parts` wrote, back (after the members)."""

    @classmethod
    def _init_args(cls, manifest: dict[str, Any]) -> dict[str, Any]:
        """Constructor keywords besides config, labels and seed."""
        return {}

    @classmethod
    def from_manifest(cls, path: Path, manifest: dict[str, Any]) -> Any:
        """Rebuild from a model directory (called by :func:`starlabel.load`)."""
        config, names = cls._manifest_basics(path, manifest)
        try:
            meta = [dict(m) for m in manifest["members"]]
            if not meta:
                raise ValueError("it lists no members")
            est = cls(
                config,
                labels=names,
                random_state=int(manifest.get("random_state", 0)),
                **cls._init_args(manifest),
            )
            est._restore(path, manifest)
            dev = device_of(est.device)
            networks = [
                load_state(
                    path,
                    str(m["file"]),
                    est._empty_network(int(m["seed"]), path, str(m["file"])),
                ).to(dev)
                for m in meta
            ]
            est._set_members(
                networks,
                [int(m["seed"]) for m in meta],
                [float(m.get("best_valid_loss", float("nan"))) for m in meta],
                [],
            )
            est._restore_state(path, manifest)
        except StarlabelInputError:
            raise
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise StarlabelInputError(
                f"model.json is incomplete or invalid: {exc}", path=path
            ) from exc
        return est

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
                "label_std": getattr(self, "label_std_", {}),
                "label_mean": getattr(self, "label_mean_", {}),
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
        self.label_std_ = training.get("label_std", {})
        self.label_mean_ = training.get("label_mean", {})
        self.n_dropped_ = training.get("n_dropped_incomplete_labels", 0)
        self.fit_warnings_ = list(manifest.get("warnings", []))
        self.history_ = []
        restore_reliability(self, path, manifest)
