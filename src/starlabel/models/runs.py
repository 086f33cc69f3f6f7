"""Runs: an estimator built from a model kind, a preset or a run file, and overrides.

A run file is the TOML that ``starlabel train --print-config`` prints and every
model directory keeps as ``config.toml``::

    model = "cnn"
    labels = ["teff", "logg"]
    seed = 0

    [config]
    n_members = 5
    ...

``build_estimator`` turns it (or a preset) plus command-line style overrides into an
unfitted estimator; ``starlabel train --config run.toml`` reproduces the run.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._typing import PathLike
from ..errors import StarlabelInputError
from .registry import DEFAULT_KIND, model_class

__all__ = ["build_estimator", "read_run_config"]

_RUN_KEYS = {"model", "labels", "extra", "seed", "config"}


def read_run_config(path: PathLike) -> dict[str, Any]:
    """Read and check a run file (TOML).

    Raises:
        StarlabelInputError: unreadable TOML, unknown keys, no ``model``.
    """
    path = Path(path)
    try:
        run = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise StarlabelInputError("no such file", path=path) from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise StarlabelInputError(f"not valid TOML: {exc}", path=path) from exc
    unknown = sorted(set(run) - _RUN_KEYS)
    if unknown:
        raise StarlabelInputError(
            f"unknown keys {unknown}; a run file has {sorted(_RUN_KEYS)}", path=path
        )
    if "model" not in run:
        raise StarlabelInputError("no `model = ...` line", path=path)
    return run


def build_estimator(
    kind: str | None = None,
    *,
    run: dict[str, Any] | None = None,
    preset: str | None = None,
    labels: Sequence[str] | None = None,
    extra: Sequence[str] | None = None,
    seed: int | None = None,
    device: str = "auto",
    show_progress: bool = False,
    **flags: Any,
) -> Any:
    """An unfitted estimator from a kind and preset, or from a run file's contents,
    with command-line style overrides (``None`` = not given).

    Args:
        kind: ``cnn``, ``cinn`` or ``gandalf`` (default: the run's, else ``cnn``).
        run: a run file read by :func:`read_run_config`; its config replaces the
            preset, and the other arguments override it.
        preset: a named preset of the model (not with ``run``).
        labels, extra, seed: estimator settings (``extra``: cnn only).
        device: ``auto``, ``cpu`` or ``cuda``.
        show_progress: progress bars while fitting.
        flags: config overrides by flag name (e.g. ``max_epochs=8``).

    Raises:
        ValueError: a kind that differs from the run's, an unknown preset, or a
            flag that is not an option of the model.

    Example:
        >>> est = build_estimator("cnn", labels=["teff"], max_epochs=3)
        >>> est.config.train.max_epochs, est.labels
        (3, ['teff'])
    """
    run = run or {}
    if kind and run.get("model") and kind != run["model"]:
        raise ValueError(f"--model {kind}: the run file is for --model {run['model']}")
    cls = model_class(kind or run.get("model") or DEFAULT_KIND)
    base = None
    if "config" in run:
        try:
            base = cls.config_class.from_dict(run["config"])
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"--config: [config] does not fit {cls.kind}: {exc}"
            ) from exc
    config = cls.configure(preset=preset, base=base, **flags)
    kwargs: dict[str, Any] = {
        "labels": list(labels) if labels else run.get("labels"),
        "device": device,
        "random_state": seed if seed is not None else int(run.get("seed", 0)),
        "show_progress": show_progress,
    }
    extra = list(extra) if extra else run.get("extra")
    if extra:
        if "extra" not in cls().get_params():
            raise ValueError(f"--extra: not an option of --model {cls.kind}")
        kwargs["extra"] = tuple(extra)
    return cls(config, **kwargs)
