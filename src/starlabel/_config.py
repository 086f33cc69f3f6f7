"""Shared (de)serialisation of the frozen config dataclasses: JSON-friendly dicts and TOML."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import MISSING, fields, is_dataclass
from typing import Any


class DictConfig:
    """Base of the frozen config dataclasses: ``to_dict`` / ``from_dict`` once.

    ``from_dict`` refuses unknown keys, turns lists into tuples and builds nested
    configs (a field whose default is itself a :class:`DictConfig`) from dicts.
    """

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        """Fields as a JSON-friendly dict (tuples as lists, nested configs as dicts)."""
        return config_to_dict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Any:
        """Build the config from :meth:`to_dict`'s output (unknown keys refused)."""
        return config_from_dict(cls, d, nested=_nested(cls))


def _nested(cls: type) -> dict[str, type]:
    """Fields of ``cls`` whose default is a nested :class:`DictConfig`."""
    out = {}
    for f in fields(cls):
        if f.default is not MISSING:
            default = f.default
        elif f.default_factory is not MISSING:
            default = f.default_factory()
        else:
            continue
        if is_dataclass(default) and isinstance(default, DictConfig):
            out[f.name] = type(default)
    return out


def config_to_dict(config: Any) -> dict[str, Any]:
    """Fields as a dict; tuples become lists and nested configs dicts."""
    out: dict[str, Any] = {}
    for f in fields(config):
        value = getattr(config, f.name)
        if hasattr(value, "to_dict"):
            value = value.to_dict()
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def config_from_dict(
    cls: type, d: Mapping[str, Any], nested: Mapping[str, type] | None = None
) -> Any:
    """Build ``cls`` from a dict, refusing unknown keys; lists become tuples."""
    known = {f.name for f in fields(cls)}
    unknown = set(d) - known
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown keys {sorted(unknown)}")
    kwargs = {}
    for key, value in d.items():
        if nested and key in nested and isinstance(value, Mapping):
            value = nested[key].from_dict(value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[key] = value
    return cls(**kwargs)


def _toml_value(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return {"nan": "nan", "inf": "inf", "-inf": "-inf"}[repr(value)]
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v, where) for v in value) + "]"
    raise TypeError(f"{where}: cannot write {type(value).__name__} to TOML")


def to_toml(data: Mapping[str, Any], *, header: str = "") -> str:
    """A nested dict of scalars, lists and dicts as TOML (``None`` values are left
    out: TOML has no null, and a missing key reads back as the field's default).

    Example:
        >>> import tomllib
        >>> d = {"model": "cnn", "config": {"n": 2, "train": {"lr": 0.001}}}
        >>> tomllib.loads(to_toml(d)) == d
        True
    """
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]

    def table(prefix: str, d: Mapping[str, Any]) -> None:
        scalars = [(k, v) for k, v in d.items() if not isinstance(v, Mapping)]
        tables = [(k, v) for k, v in d.items() if isinstance(v, Mapping)]
        if prefix and (scalars or not tables):
            lines.append(f"\n[{prefix}]")
        for k, v in scalars:
            if v is not None:
                lines.append(f"{k} = {_toml_value(v, prefix + '.' + k)}")
        for k, v in tables:
            table(f"{prefix}.{k}" if prefix else k, v)

    table("", data)
    return "\n".join(lines).strip("\n") + "\n"
