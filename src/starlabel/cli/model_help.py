"""The help of ``train`` and ``tune`` from the models themselves, so it cannot go
stale: ``--model`` lists the registry's kinds, ``--preset`` each kind's presets, and
every model flag says which models take it (their ``flag_fields``). The models
are read when the help is shown, so no other command pays for importing them."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from typer.core import TyperCommand


def flag_key(option: Any) -> str:
    """``--augment-snr`` -> ``augment_snr``: how ``flag_fields`` names a flag."""
    longest = max(option.opts, key=len)
    return longest.lstrip("-").replace("-", "_")


def model_help() -> tuple[str, str, dict[str, list[str]]]:
    """The ``--model`` and ``--preset`` texts and, per flag, the kinds taking it."""
    from ..models import MODELS
    from ..models.registry import DEFAULT_KIND

    kinds = "; ".join(
        f"{kind}: {cls.title}" + (" (default)" if kind == DEFAULT_KIND else "")
        for kind, cls in MODELS.items()
    )
    presets = "; ".join(
        f"{kind}: "
        + ", ".join(
            f"{name} (default)" if name == cls.default_preset else name
            for name in cls.presets
        )
        for kind, cls in MODELS.items()
    )
    takes: dict[str, list[str]] = defaultdict(list)
    for kind, cls in MODELS.items():
        for flag in cls.flag_fields:
            takes[flag].append(kind)
    return kinds + ".", presets + ".", dict(takes)


class ModelCommand(TyperCommand):
    """A command whose model options are described from the registry."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        kinds, presets, takes = model_help()
        for param in self.params:
            base = getattr(param, "_base_help", None)
            if base is None:
                base = param._base_help = getattr(param, "help", None) or ""
            key = flag_key(param)
            if key == "model":
                param.help = f"{base} {kinds}".strip()
            elif key == "preset":
                param.help = f"{base} {presets}".strip()
            elif key in takes:
                if base[:2].istitle():  # "Learning rate" -> "cnn, cinn: learning rate"
                    base = base[0].lower() + base[1:]
                param.help = f"{', '.join(takes[key])}: {base}".rstrip(": ")
        super().format_help(ctx, formatter)
