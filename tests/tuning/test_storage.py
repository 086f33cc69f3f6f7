"""``open_storage`` on SQLite: two processes claiming waiting trials from one
file never claim the same one (pysqlite's late BEGIN let both read it as free)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

optuna = pytest.importorskip("optuna")

from starlabel.tuning.storage import open_storage  # noqa: E402

CLAIM = """
import json, sys, time
import optuna
from starlabel.tuning.storage import open_storage
optuna.logging.set_verbosity(optuna.logging.ERROR)
study = optuna.load_study(storage=open_storage(sys.argv[1]), study_name="s")
while time.time() < float(sys.argv[2]):
    pass
print(json.dumps([study._pop_waiting_trial_id() for _ in range(30)]))
"""


def test_two_processes_never_claim_the_same_waiting_trial(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    study = optuna.create_study(storage=open_storage(url), study_name="s")
    for i in range(60):
        study.enqueue_trial({"x": float(i)})
    start = time.time() + 4  # both processes start claiming at the same moment
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIM, url, str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
    a, b = (json.loads(out) for out, _ in outs)
    assert None not in a + b  # 60 waiting trials, 30 claims each
    assert not set(a) & set(b)
    states = {t.state for t in study.get_trials(deepcopy=False)}
    assert states == {optuna.trial.TrialState.RUNNING}
