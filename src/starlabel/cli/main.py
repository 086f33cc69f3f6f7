"""The ``starlabel`` command: one module per command, registered by the list below.

Exit codes: 0 success, 1 unexpected failure, 2 bad input (one-line reason on
stderr), 3 a command that is not built yet, 130 interrupted.
"""

from __future__ import annotations

import sys

from . import (
    calibrate,
    demo,
    edit,
    evaluate,
    explain,
    info,
    map,
    predict,
    prepare,
    refine,
    report,
    serve,
    split,
    synth,
    train,
    tune,
)
from ._app import app, err_console, guarded
from .model_help import ModelCommand

#: (name, function, click context settings), in the order of ``starlabel --help``.
COMMANDS = [
    ("demo", demo.demo, {}),
    ("synth", synth.synth, {}),
    ("prepare", prepare.prepare, {}),
    ("info", info.info, {}),
    ("split", split.split, {}),
    ("train", train.train, train.SETTINGS),
    ("tune", tune.tune, {}),
    ("predict", predict.predict, {}),
    ("evaluate", evaluate.evaluate, {}),
    ("refine", refine.refine, {}),
    ("calibrate", calibrate.calibrate, {}),
    ("explain", explain.explain, {}),
    ("map", map.map_, {}),
    ("edit", edit.edit, {}),
    ("report", report.report, {}),
    ("serve", serve.serve, {}),
]

for _name, _fn, _settings in COMMANDS:
    app.command(
        _name,
        context_settings=_settings or None,
        cls=ModelCommand if _name in ("train", "tune") else None,
    )(guarded(_fn))


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
