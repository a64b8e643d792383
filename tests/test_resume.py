"""Trials that outlive their worker, with real processes (journal storage: both trial workers on one disk):
a trial whose worker is killed, or that gets SIGTERM, continues on another worker from its checkpoint, each
epoch logged once; a cancelled sweep's trial continues when the study runs again."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time

import optuna
import pytest
import yaml
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from flows import names
from flows.requeue import retried_from

from stack import (
    BIN,
    QUICK_ZOMBIES,
    REPO,
    flow_run,
    kill_all,
    pids_of_flow_run,
    prefect,
    running_stack,
    start_sweep,
    trial_flow_runs,
)

pytestmark = pytest.mark.e2e
EPOCHS = 6


@pytest.fixture(scope="module")
def stack(tmp_path_factory, embedded_dir):
    with running_stack(tmp_path_factory.mktemp("state"), workers=2, zombie_after=QUICK_ZOMBIES) as s:
        yield s


@pytest.fixture(scope="module")
def six_epochs(tmp_path_factory) -> str:
    """One configuration of `smoke`, six epochs of a few seconds each, no early stop, and a checkpoint
    every three seconds inside an epoch."""
    from flows.space import load_space

    doc = yaml.safe_load(load_space("smoke").path.read_text())
    doc["search"] = {"batch_size": [32], "epochs": [EPOCHS], "hidden_size": [64], "lr": [0.005]}
    doc["fixed"] |= {"patience": 0}
    doc["checkpoint_minutes"] = 0.05
    path = tmp_path_factory.mktemp("spaces") / "six-epochs.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def study_of(stack, name: str) -> optuna.Study:
    env = stack.env()
    out = subprocess.run([str(BIN / "python"), "-c", "from flows.storage import make_storage; import optuna, sys;"
                          "s = optuna.load_study(study_name=sys.argv[1], storage=make_storage(''));"
                          "import pickle; sys.stdout.buffer.write(pickle.dumps(s.trials))", name],
                         env=env, cwd=REPO, capture_output=True, check=True)
    import pickle

    return pickle.loads(out.stdout)


def trial_runs(stack, name: str):
    c = MlflowClient(stack.mlflow_uri)
    exp = c.get_experiment_by_name("maestro-lstm")
    runs = [] if exp is None else c.search_runs([exp.experiment_id], f"tags.`{names.STUDY}` = '{name}'")
    return [r for r in runs if names.PARENT_RUN in r.data.tags]  # not the sweep's own run


def epochs_logged(stack, run_id: str) -> list[int]:
    return sorted(m.step for m in MlflowClient(stack.mlflow_uri).get_metric_history(run_id, "train_loss"))


def in_epoch(stack, name: str, epoch: int):
    """The trial run once it has logged epoch - 1 (so it trains epoch `epoch`)."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        for r in trial_runs(stack, name):
            if r.info.status == "RUNNING" and len(epochs_logged(stack, r.info.run_id)) >= epoch - 1:
                return r
        time.sleep(1)
    raise TimeoutError(f"no trial of {name} reached epoch {epoch}")


def resumed_epoch(trial) -> int:
    return int(re.match(r"epoch (\d+)", trial.user_attrs[names.RESUMED_FROM]).group(1))


def assert_continued_once(stack, name: str, lost_run_id: str):
    """One COMPLETE trial that continued the lost one in the same MLflow run, every epoch logged once,
    nothing left RUNNING or WAITING in Optuna, MLflow or Prefect."""
    trials = study_of(stack, name)
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.COMPLETE], trials
    lost, done = trials
    assert retried_from(done) == lost.number
    assert done.user_attrs[names.MLFLOW_RUN_ID] == lost.user_attrs[names.MLFLOW_RUN_ID] == lost_run_id
    assert epochs_logged(stack, lost_run_id) == list(range(1, EPOCHS + 1))
    runs = trial_runs(stack, name)
    assert [(r.info.run_id, r.info.status) for r in runs] == [(lost_run_id, "FINISHED")]
    assert runs[0].data.tags[names.RETRY_OF] == str(lost.number)
    assert {r["state"] for r in trial_flow_runs(stack, name)} <= {"Completed", "Crashed", "Cancelled"}
    return lost, done


def test_a_trial_whose_worker_is_killed_continues_on_the_other(stack, six_epochs):
    name = "resume-kill"
    sweep = start_sweep(stack, space=six_epochs, n_trials=1, study_name=name)
    victim = in_epoch(stack, name, 3)
    worker, flow_run_id = victim.data.tags[names.WORKER], victim.data.tags[names.FLOW_RUN_ID]
    pids = pids_of_flow_run(flow_run_id)
    stack.stop(worker, signal.SIGKILL)  # a machine that died: the worker and the trial it ran
    kill_all(pids, signal.SIGKILL)
    out, _ = sweep.communicate(timeout=900)
    assert sweep.returncode == 0, out[-3000:]

    lost, done = assert_continued_once(stack, name, victim.info.run_id)
    assert flow_run(stack, flow_run_id)["state"] == "Crashed"  # by the zombie automation
    assert "Crashed" in lost.user_attrs[names.FAIL_REASON]
    assert resumed_epoch(done) >= 3  # trained from its checkpoint, not from epoch 1
    assert done.user_attrs[names.WORKER] != worker
    assert f"trial {done.number} resumed from epoch" in out and f"continues trial {lost.number}" in out
    stack.start_worker(worker)  # the next test has two workers again


def test_sigterm_saves_a_mid_epoch_checkpoint_and_the_trial_continues(stack, six_epochs):
    name = "resume-sigterm"
    sweep = start_sweep(stack, space=six_epochs, n_trials=1, study_name=name)
    victim = in_epoch(stack, name, 3)
    worker, flow_run_id = victim.data.tags[names.WORKER], victim.data.tags[names.FLOW_RUN_ID]
    pids = pids_of_flow_run(flow_run_id)
    signalled = time.monotonic()
    # what `docker compose stop` or a Kubernetes eviction does: SIGTERM to the worker (flows/ops/worker.py
    # passes it on to its trials), then SIGKILL after a grace period (Stack.stop: 10 s)
    os.killpg(stack.running()[worker], signal.SIGTERM)
    while any(os.path.exists(f"/proc/{pid}") for pid in pids) and time.monotonic() - signalled < 60:
        time.sleep(0.5)
    assert time.monotonic() - signalled < 30  # the trial ended within the usual grace period
    stack.stop(worker)
    # (the run's tag `stopped=preempted` lasts only until the continuation reopens the run: Optuna keeps the reason)
    out, _ = sweep.communicate(timeout=900)
    assert sweep.returncode == 0, out[-3000:]

    lost, done = assert_continued_once(stack, name, victim.info.run_id)
    assert lost.user_attrs[names.FAIL_REASON].startswith("preempted in epoch")
    assert "batch" in done.user_attrs[names.RESUMED_FROM]  # from the checkpoint written on SIGTERM, mid-epoch
    assert resumed_epoch(done) >= 3
    assert done.user_attrs[names.LOSSES] == 1
    stack.start_worker(worker)


def test_a_cancelled_sweep_pauses_its_trial_and_running_it_again_resumes(stack, six_epochs):
    name = "resume-cancel"
    sweep = start_sweep(stack, space=six_epochs, n_trials=1, study_name=name)
    victim = in_epoch(stack, name, 3)
    parent = MlflowClient(stack.mlflow_uri).get_run(victim.data.tags[names.PARENT_RUN])
    cancelled = prefect(stack, "flow-run", "cancel", parent.data.tags[names.FLOW_RUN_ID])
    assert cancelled.returncode == 0, cancelled.stdout + cancelled.stderr
    sweep.communicate(timeout=300)

    def cancelled():  # the runner ends the flow run Cancelled once its process exited
        runs = trial_flow_runs(stack, name)
        return runs if runs and all(r["state"] == "Cancelled" for r in runs) else None

    deadline = time.monotonic() + 60
    while not (runs := cancelled()) and time.monotonic() < deadline:
        time.sleep(1)
    assert runs, trial_flow_runs(stack, name)  # within 60 s of the cancel
    trials = study_of(stack, name)
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.WAITING]  # paused: nothing RUNNING
    c = MlflowClient(stack.mlflow_uri)
    paused = c.get_run(victim.info.run_id)
    assert paused.info.status == "KILLED" and paused.data.tags[names.STOPPED] == "cancelled"
    assert c.get_run(parent.info.run_id).info.status == "KILLED"

    again = start_sweep(stack, space=six_epochs, n_trials=1, study_name=name)
    out, _ = again.communicate(timeout=900)
    assert again.returncode == 0, out[-3000:]
    lost, done = assert_continued_once(stack, name, victim.info.run_id)
    assert resumed_epoch(done) >= 3 and names.LOSSES not in lost.user_attrs
    assert done.user_attrs.get(names.LOSSES, 0) == 0  # a cancel is not a loss


def test_a_trial_lost_more_than_max_restarts_stays_failed_with_its_reason(stack, six_epochs):
    name = "resume-lost-for-good"
    sweep = start_sweep(stack, space=six_epochs, n_trials=1, study_name=name, max_restarts=0)
    victim = in_epoch(stack, name, 2)
    worker = victim.data.tags[names.WORKER]
    pids = pids_of_flow_run(victim.data.tags[names.FLOW_RUN_ID])
    stack.stop(worker, signal.SIGKILL)
    kill_all(pids, signal.SIGKILL)
    out, _ = sweep.communicate(timeout=900)
    stack.start_worker(worker)
    assert sweep.returncode == 0, out[-3000:]

    [lost] = study_of(stack, name)  # not continued: no second trial
    assert lost.state == TrialState.FAIL
    reason = lost.user_attrs[names.FAIL_REASON]
    assert "Crashed" in reason and reason.endswith("lost 1 times (max_restarts 0): not continued"), reason
    assert [r.info.status for r in trial_runs(stack, name)] == ["FAILED"]
    assert f"trial {lost.number} FAIL: " in out  # the watch says it, with the reason
