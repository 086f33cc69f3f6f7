"""Typed prediction options and the preset + overrides -> config resolution.

Each estimator names its ``options_class`` (a frozen dataclass derived from
:class:`PredictOptions`), its ``config_class``, its named ``presets`` with a
``default_preset``, and ``flag_fields``: which command-line flag sets which config
field (dotted paths into nested configs). The functions here are the one place
where those are validated, so the command line stays a thin shell.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Self

__all__ = ["TRAIN_FLAGS", "PredictOptions", "flag_name", "resolve_config"]

#: Flags of the shared training loop, for models whose config has a ``train``
#: :class:`~starlabel.training.TrainConfig`.
TRAIN_FLAGS = {
    "valid_fraction": "valid_fraction",
    "max_epochs": "train.max_epochs",
    "patience": "train.patience",
    "batch_size": "train.batch_size",
    "lr": "train.lr",
    "optimizer": "train.optimizer",
}


def flag_name(key: str) -> str:
    """``n_internal`` -> ``--n-internal`` (how the command line spells it)."""
    return "--" + key.replace("_", "-")


@dataclass(frozen=True, kw_only=True, slots=True)
class PredictOptions:
    """Options every model's ``predict`` takes.

    Attributes:
        batch_size: spectra read and predicted at once by the streaming predictor
            (bounds memory).
    """

    batch_size: int = 4096

    def __post_init__(self) -> None:
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(
                f"batch_size: expected an integer >= 1, got {self.batch_size!r}"
            )

    @classmethod
    def from_flags(cls, flags: Mapping[str, Any], *, model: str) -> Self:
        """Build from keyword flags; ``None`` means "not given".

        Raises:
            ValueError: a given flag is not an option of this model (one line naming
                the flag and the model kind).

        Example:
            >>> PredictOptions.from_flags({"batch_size": 8, "mode": None}, model="cnn")
            PredictOptions(batch_size=8)
            >>> PredictOptions.from_flags({"mode": "precision"}, model="cnn")
            Traceback (most recent call last):
            ...
            ValueError: --mode: not an option of cnn models (their options: --batch-size)
        """
        known = [f.name for f in fields(cls)]
        given = {k: v for k, v in flags.items() if v is not None}
        unknown = [k for k in given if k not in known]
        if unknown:
            raise ValueError(
                f"{', '.join(flag_name(k) for k in unknown)}: not an option of {model} "
                f"models (their options: {', '.join(flag_name(k) for k in known)})"
            )
        return cls(**given)


def _replace_paths(config: Any, changes: Mapping[str, Any]) -> Any:
    """``dataclasses.replace`` with dotted paths, one call per level (so that
    fields validated together, like ``n_keep <= n_members``, change together)."""
    here: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for path, value in changes.items():
        head, _, rest = path.partition(".")
        if rest:
            nested.setdefault(head, {})[rest] = value
        else:
            here[head] = value
    for head, sub in nested.items():
        here[head] = _replace_paths(getattr(config, head), sub)
    return dataclasses.replace(config, **here)


def resolve_config(
    cls: type,
    *,
    preset: str | None = None,
    base: Any = None,
    flags: Mapping[str, Any] | None = None,
) -> Any:
    """The config of estimator class ``cls`` from a preset (or a full ``base``
    config, e.g. read from a TOML file) and command-line overrides.

    Args:
        cls: an estimator class (``presets``, ``default_preset``, ``flag_fields``).
        preset: preset name (default ``cls.default_preset``); not with ``base``.
        base: a complete config to start from instead of a preset.
        flags: flag name -> value; ``None`` = not given. A flag that is not an
            option of this model is refused, never ignored.

    Raises:
        ValueError: unknown preset, unknown flag for this model, or a value the
            config refuses (the config validates itself).
    """
    if base is not None and preset:
        raise ValueError("--preset and --config: give one or the other")
    if base is None:
        name = preset or cls.default_preset
        if name not in cls.presets:
            raise ValueError(
                f"--preset: choose from {', '.join(sorted(cls.presets))} for "
                f"{cls.kind} models, got {name!r}"
            )
        base = cls.presets[name]
    given = {k: v for k, v in (flags or {}).items() if v is not None}
    unknown = [k for k in given if k not in cls.flag_fields]
    if unknown:
        from .registry import MODELS  # the registry imports the models, which import us

        owners = sorted(
            {kind for kind, c in MODELS.items() for k in unknown if k in c.flag_fields}
        )
        hint = f" (an option of --model {' / '.join(owners)})" if owners else ""
        raise ValueError(
            f"{', '.join(flag_name(k) for k in unknown)}: not an option of --model "
            f"{cls.kind}{hint}"
        )
    changes = {cls.flag_fields[k]: v for k, v in cls.adjust_flags(base, given).items()}
    return _replace_paths(base, changes) if changes else base
