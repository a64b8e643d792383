"""A trial's fixed costs: the warm-up thread (flows/trial/warmup.py) and the trial flow's imports."""

from __future__ import annotations

import subprocess
import sys

import torch
from conftest import REPO

from flows.trial.warmup import Warmup


def test_warmup_imports_dynamo_and_starts_cuda_only_where_there_is_one():
    w = Warmup().start()
    waited = w.join()
    assert w.errors == [] and waited >= 0
    assert w.cuda is torch.cuda.is_available()
    assert "torch._dynamo" in sys.modules  # what torch.optim would import when the first optimizer is built


def test_the_trial_flow_imports_only_what_a_trial_uses():
    """SQLAlchemy (only the PostgreSQL storage uses it) and the music (only a completed trial makes it) are
    imported where they are used, not when Prefect loads the trial flow."""
    code = ("import sys, prefect.engine\n"
            "import flows.trial.flow\n"
            "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
            "print(' '.join(m for m in sys.modules if m.startswith('lstm.music')))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    packages, music = out.stdout.splitlines()[-2:]
    assert "sqlalchemy" not in packages.split() and "music21" not in packages.split()
    assert music == ""
    assert {"torch", "mlflow", "optuna", "prefect"} <= set(packages.split())


def test_cuda_starts_at_import_only_in_a_flow_runs_own_process():
    """The process worker sets PREFECT__FLOW_RUN_ID in a flow run's process; a deploy or a test has none."""
    import os

    code = ("from flows.trial.warmup import WARMUP\n"
            "print(WARMUP._threads['cuda'].ident is not None, WARMUP._threads['imports'].ident is not None)\n"
            "WARMUP.join()\n")
    env = {k: v for k, v in os.environ.items() if k != "PREFECT__FLOW_RUN_ID"}
    for flow_run, started in (("", "False False"), ("a-flow-run", "True False")):
        out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True,
                             env=env | ({"PREFECT__FLOW_RUN_ID": flow_run} if flow_run else {}))
        assert out.stdout.strip() == started
