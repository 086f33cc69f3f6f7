"""Hyperparameter search spaces, declared next to each model's config.

A space maps a config field, by its dotted path in the config (``cnn.kernel_size``,
``train.lr``), to the range a search may draw it from. A field that holds a tuple
(``cnn.channels``) is drawn element by element (``cnn.channels.0``, ...), keeping
the length of the base config. Nothing here imports a search library:
:func:`draw_config` takes a ``draw(name, param)`` callable (``starlabel.tuning``
passes Optuna's ``trial.suggest_*``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Choice",
    "FloatRange",
    "IntRange",
    "Param",
    "base_values",
    "draw_config",
    "param_from_toml",
    "param_names",
]


@dataclass(frozen=True)
class IntRange:
    """An integer in ``[low, high]`` (``log``: drawn uniformly in log)."""

    low: int
    high: int
    log: bool = False

    def __post_init__(self) -> None:
        if not self.low <= self.high or (self.log and self.low < 1):
            raise ValueError(f"expected 0 < low <= high (log) or low <= high: {self}")


@dataclass(frozen=True)
class FloatRange:
    """A float in ``[low, high]`` (``log``: drawn uniformly in log)."""

    low: float
    high: float
    log: bool = False

    def __post_init__(self) -> None:
        if not self.low <= self.high or (self.log and self.low <= 0):
            raise ValueError(f"expected 0 < low <= high (log) or low <= high: {self}")


@dataclass(frozen=True)
class Choice:
    """One of a few values (numbers, strings or booleans)."""

    values: tuple[Any, ...]

    def __post_init__(self) -> None:
        if not self.values:
            raise ValueError("a choice needs at least one value")


Param = IntRange | FloatRange | Choice


def _field(config: dict[str, Any], path: str, *, where: str) -> tuple[dict, str]:
    """The dict holding the field ``path`` of a config dict, and the field's name."""
    parts = path.split(".")
    node = config
    for depth, part in enumerate(parts):
        if not isinstance(node, dict) or part not in node:
            known = sorted(_leaves(config))
            raise ValueError(
                f"{where}: {path!r} is not a field of this model's config "
                f"(fields: {', '.join(known)})"
            )
        if depth == len(parts) - 1:
            return node, part
        node = node[part]
    raise AssertionError("unreachable")


def _leaves(config: Mapping[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key, value in config.items():
        if isinstance(value, Mapping):
            out += _leaves(value, f"{prefix}{key}.")
        else:
            out.append(f"{prefix}{key}")
    return out


def param_names(path: str, base: dict[str, Any]) -> list[str]:
    """The names a search draws for the field ``path`` of the config dict ``base``:
    the path itself, or one name per element of a tuple field.

    Example:
        >>> param_names("cnn.pool", {"cnn": {"pool": [2, 2, 1]}})
        ['cnn.pool.0', 'cnn.pool.1', 'cnn.pool.2']
    """
    node, key = _field(base, path, where="search space")
    value = node[key]
    if isinstance(value, list | tuple):
        return [f"{path}.{i}" for i in range(len(value))]
    return [path]


def draw_config(
    base: dict[str, Any],
    space: Mapping[str, Param],
    draw: Callable[[str, Param], Any],
) -> dict[str, Any]:
    """A copy of the config dict ``base`` with every field of ``space`` drawn.

    Example:
        >>> base = {"lr": 0.001, "net": {"widths": [8, 8]}}
        >>> space = {"net.widths": IntRange(4, 64, log=True), "lr": FloatRange(1e-4, 1e-2)}
        >>> draw_config(base, space, lambda name, p: p.low)
        {'lr': 0.0001, 'net': {'widths': [4, 4]}}
    """
    out = _deep_copy(base)
    for path, param in space.items():
        node, key = _field(out, path, where="search space")
        names = param_names(path, out)
        values = [draw(name, param) for name in names]
        node[key] = values if isinstance(node[key], list | tuple) else values[0]
    return out


def _contains(param: Param, value: Any) -> bool:
    if isinstance(param, Choice):
        return any(value == v and type(value) is type(v) for v in param.values)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if isinstance(param, IntRange) and not float(value).is_integer():
        return False
    return param.low <= value <= param.high


def base_values(
    base: dict[str, Any], space: Mapping[str, Param]
) -> dict[str, Any] | None:
    """The values the config dict ``base`` has for every name a search over
    ``space`` draws, or ``None`` where one of them lies outside its range (the
    base is then not a point of the space).

    Example:
        >>> base_values({"lr": 0.001, "net": {"widths": [8, 16]}},
        ...             {"net.widths": IntRange(4, 64), "lr": FloatRange(1e-4, 1e-2)})
        {'net.widths.0': 8, 'net.widths.1': 16, 'lr': 0.001}
        >>> base_values({"lr": 0.1}, {"lr": FloatRange(1e-4, 1e-2)}) is None
        True
    """
    out: dict[str, Any] = {}
    for path, param in space.items():
        node, key = _field(base, path, where="search space")
        value = node[key]
        values = list(value) if isinstance(value, list | tuple) else [value]
        for name, v in zip(param_names(path, base), values, strict=True):
            if not _contains(param, v):
                return None
            out[name] = v
    return out


def _deep_copy(d: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: _deep_copy(v)
        if isinstance(v, Mapping)
        else list(v)
        if isinstance(v, list | tuple)
        else v
        for k, v in d.items()
    }


def param_from_toml(path: str, spec: Any, base: dict[str, Any]) -> Param:
    """A search parameter from a user's TOML table: ``{low, high, log}`` (integer
    or float by the field's type in ``base``) or ``{choices = [...]}``.

    Raises:
        ValueError: an unknown field, or a table that is neither form.

    Example:
        >>> param_from_toml("train.lr", {"low": 1e-4, "high": 1e-2, "log": True},
        ...                 {"train": {"lr": 0.001}})
        FloatRange(low=0.0001, high=0.01, log=True)
    """
    node, key = _field(base, path, where="--space")
    current = node[key]
    if isinstance(current, list | tuple):
        current = current[0] if current else 0.0
    if not isinstance(spec, Mapping):
        raise ValueError(f"--space: [{path!r}] must be a table, got {spec!r}")
    keys = set(spec)
    if keys == {"choices"}:
        values = spec["choices"]
        if not isinstance(values, list) or not values:
            raise ValueError(f"--space: {path}.choices must be a non-empty list")
        return Choice(tuple(values))
    if not keys or not keys <= {"low", "high", "log"} or not {"low", "high"} <= keys:
        raise ValueError(
            f"--space: {path} takes low, high (and log) or choices, got {sorted(keys)}"
        )
    low, high, log = spec["low"], spec["high"], bool(spec.get("log", False))
    try:
        if isinstance(current, bool) or not isinstance(current, int | float):
            raise ValueError(f"{path} is not a number: give choices = [...]")
        if isinstance(current, int):
            if not (float(low).is_integer() and float(high).is_integer()):
                raise ValueError("an integer field: low and high must be integers")
            return IntRange(int(low), int(high), log)
        if not (math.isfinite(float(low)) and math.isfinite(float(high))):
            raise ValueError("low and high must be finite")
        return FloatRange(float(low), float(high), log)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"--space: {path}: {exc}") from exc
