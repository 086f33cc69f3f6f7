"""The search space of a study: the model's, with a user's TOML file applied, and
one drawn value per parameter."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._typing import PathLike
from ..errors import StarlabelInputError
from ..models.space import Param, param_from_toml

__all__ = ["read_space", "suggest"]


def read_space(
    path: PathLike | None, default: Mapping[str, Param], base: dict[str, Any]
) -> dict[str, Param]:
    """The search space: the model's, with a user's TOML file applied::

        only = false            # true: search only the parameters below
        [space]
        "train.lr" = {low = 1e-4, high = 1e-2, log = true}
        "cnn.kernel_size" = {low = 4, high = 32}
        "train.batch_size" = {choices = [32, 64]}

    Raises:
        StarlabelInputError: unreadable TOML, unknown keys, or a parameter that is
            not a field of the model's config (named in the message).
    """
    import tomllib

    if path is None:
        return dict(default)
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StarlabelInputError("no such file", path=path) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise StarlabelInputError(f"not valid TOML: {exc}", path=path) from None
    unknown = sorted(set(data) - {"only", "space"})
    if unknown:
        raise StarlabelInputError(
            f"unknown keys {unknown}; a search-space file has `only` and [space]",
            path=path,
        )
    space = {} if data.get("only", False) else dict(default)
    try:
        for name, spec in data.get("space", {}).items():
            space[name] = param_from_toml(name, spec, base)
    except ValueError as exc:
        raise StarlabelInputError(str(exc), path=path) from None
    if not space:
        raise StarlabelInputError("the search space is empty", path=path)
    return space


def suggest(trial: Any, name: str, param: Param) -> Any:
    """The value of ``param`` that ``trial`` draws."""
    from ..models.space import Choice, FloatRange

    if isinstance(param, Choice):
        return trial.suggest_categorical(name, list(param.values))
    if isinstance(param, FloatRange):
        return trial.suggest_float(name, param.low, param.high, log=param.log)
    return trial.suggest_int(name, param.low, param.high, log=param.log)
