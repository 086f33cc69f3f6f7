"""Shared (de)serialisation of the frozen config dataclasses: JSON-friendly dicts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any


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
