"""The Optuna side of a study: importing Optuna, opening a storage, the pruner,
creating or continuing the study, and refusing a study made for another search."""

from __future__ import annotations

import os
import time
import warnings
from typing import Any

from ..errors import StarlabelInputError

__all__ = [
    "PRUNERS",
    "check_study",
    "create_study",
    "import_optuna",
    "open_storage",
]

PRUNERS = ("median", "hyperband", "none")


def import_optuna() -> Any:
    """Optuna, quiet (one line per trial is ours), or a one-line error."""
    try:
        import optuna
    except ImportError as exc:
        raise StarlabelInputError(
            "starlabel tune needs Optuna: pip install 'starlabel[tune]'"
        ) from exc
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # our own line per trial
    return optuna


def open_storage(url: str) -> Any:
    """An Optuna storage for ``url`` (SQLite: waits for a busy file instead of
    failing, and takes the file's write lock at the start of every transaction;
    a heartbeat marks trials of killed processes as failed).

    Raises:
        StarlabelInputError: a URL that cannot be opened, in one line.
    """
    optuna = import_optuna()
    kwargs: dict[str, Any] = {"heartbeat_interval": 30, "grace_period": 90}
    if url.startswith("sqlite:"):
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 120}}
    for attempt in range(4):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                store = optuna.storages.RDBStorage(url, **kwargs)
            if url.startswith("sqlite:"):
                _serialise_sqlite(store.engine)
            return store
        except Exception as exc:  # sqlalchemy, a missing driver, a bad URL, ...
            # two processes creating the same new database race on its schema:
            # the loser finds it made a moment later
            racing = type(exc).__name__ in ("IntegrityError", "OperationalError")
            if racing and attempt < 3:
                time.sleep(0.5 + attempt)
                continue
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise StarlabelInputError(
                f"--storage {url!r}: cannot open it ({type(exc).__name__}: {first})"
            ) from None
    raise AssertionError("unreachable")


def _serialise_sqlite(engine: Any) -> None:
    """Every transaction on ``engine`` starts with ``BEGIN IMMEDIATE``.

    pysqlite begins a transaction only at its first write, so two processes can
    both read a waiting trial (the enqueued base configuration) as free and both
    claim it; the second then fails with "Cannot tell a COMPLETE trial". SQLite
    ignores ``SELECT ... FOR UPDATE``: taking the write lock first is its way
    (SQLAlchemy's recipe for serialisable SQLite).
    """
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _no_implicit_begin(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # connections opened before the listeners are dropped


def _pruner(optuna: Any, kind: str) -> Any:
    if kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=3)
    if kind == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=2)
    return optuna.pruners.NopPruner()


def create_study(
    optuna: Any, store: Any, name: str, pruner: str, sampler_seed: int | None
) -> Any:
    """Create the study ``name`` in ``store``, or continue it (TPE sampler seeded
    with ``sampler_seed``, default the process id: processes draw differently)."""
    sampler = optuna.samplers.TPESampler(
        seed=sampler_seed if sampler_seed is not None else os.getpid(),
        multivariate=True,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.create_study(
            storage=store,
            study_name=name,
            direction="minimize",
            sampler=sampler,
            pruner=_pruner(optuna, pruner),
            load_if_exists=True,
        )


def check_study(study: Any, attrs: dict[str, Any], name: str, url: str) -> None:
    """Record ``attrs`` on a new study; refuse one made for another model, metric,
    labels or data."""
    old = study.user_attrs
    if not old:  # a study made by this call (or by Optuna directly)
        for key, value in attrs.items():
            study.set_user_attr(key, value)
        return
    for key, flag in (
        ("model", "--model"),
        ("metric", "--metric"),
        ("labels", "--labels"),
        ("data", "training/validation data"),
    ):
        if key in old and old[key] != attrs[key]:
            raise StarlabelInputError(
                f"study {name!r} in {url} was made for {flag} {old[key]} (now "
                f"{attrs[key]}); give another --study to start a new one"
            )
