"""Several workers and faults, each with real processes: a PostgreSQL server (Optuna and MLflow
backends), a Prefect server, an MLflow server, two trial workers on the `gpu` pool (CPU workers standing
in for GPUs, one flow run at a time each) and the sweep worker on the `cpu` pool."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from flows import names
from flows.requeue import retried_from

from pg import postgres_server, require_postgres
from stack import (
    BIN,
    QUICK_ZOMBIES,
    REPO,
    flow_run,
    kill_all,
    pids_of_flow_run,
    prefect,
    run_sweep,
    running_stack,
    start_sweep,
    trial_flow_runs,
)

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


@pytest.fixture(scope="module")
def pg(tmp_path_factory):
    require_postgres()
    with postgres_server(tmp_path_factory.mktemp("pg")) as server:
        yield server


@pytest.fixture(scope="module")
def stack(tmp_path_factory, embedded_dir, pg):
    # two trial workers, one trial each at a time; the sweeps run on their own worker
    with running_stack(tmp_path_factory.mktemp("state"), workers=2, zombie_after=QUICK_ZOMBIES,
                       mlflow_backend=pg.create_database("mlflow", driver="psycopg2")) as s:
        yield s


@pytest.fixture(scope="module")
def slow_space(tmp_path_factory) -> str:
    """`smoke` with twelve epochs a trial (about a minute on a quiet 2-core machine), so that a test finds a
    trial still training when it breaks things."""
    import yaml

    from flows.space import load_space

    doc = yaml.safe_load(load_space("smoke").path.read_text())
    doc["search"]["epochs"] = [12]
    path = tmp_path_factory.mktemp("spaces") / "slow-smoke.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


@pytest.fixture(scope="module")
def optuna_url(pg):
    return pg.create_database("optuna", driver="psycopg2")


def runs_of(stack, study: str):
    c = MlflowClient(stack.mlflow_uri)
    exp = c.get_experiment_by_name("maestro-lstm")
    if exp is None:  # no sweep has started yet
        return []
    return [r for r in c.search_runs([exp.experiment_id], f"tags.`{names.STUDY}` = '{study}'")
            if r.data.tags.get("mlflow.parentRunId")]


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(2)
    raise TimeoutError(f"waited {timeout:.0f}s for {what}")


def trial_in_training(stack, study: str):
    """A trial run that has logged an epoch (its flow run sent its first Prefect heartbeat when it started)."""
    c = MlflowClient(stack.mlflow_uri)
    for run in runs_of(stack, study):
        if run.info.status == "RUNNING" and c.get_metric_history(run.info.run_id, "val_accuracy"):
            return run
    return None


def most_at_once(intervals) -> int:
    """The largest number of (start, end) intervals that overlap at one moment (an end before a start)."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    now = peak = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    return peak


def assert_one_trial_per_worker(runs) -> None:
    """MLflow's record of the trials: on each worker (tag `worker`), no two trial runs overlap in time."""
    by_worker = {}
    for r in runs:
        by_worker.setdefault(r.data.tags[names.WORKER], []).append((r.info.start_time, r.info.end_time))
    for worker, intervals in by_worker.items():
        assert most_at_once(intervals) == 1, (worker, intervals)


def test_two_workers_share_the_study_on_postgresql(stack, optuna_url):
    done = run_sweep(stack, space="smoke", n_trials=2, n_parallel=2, study_name="pg-parallel", storage=optuna_url)
    assert done["state"] == "Completed", done["cli_output"][-3000:]
    study = optuna.load_study(study_name="pg-parallel", storage=optuna_url)
    assert len([t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]) == 2
    workers = {r.data.tags[names.WORKER] for r in runs_of(stack, "pg-parallel")}
    assert len(workers) == 2, workers
    assert_one_trial_per_worker(runs_of(stack, "pg-parallel"))


def test_more_parallel_trials_than_workers_wait_their_turn(stack, optuna_url):
    """n_parallel=3 on two trial workers: the third trial flow run waits in the queue, none runs beside
    another on one worker, and the study still ends with exactly n_trials trials."""
    done = run_sweep(stack, space="smoke", n_trials=4, n_parallel=3, study_name="pg-queue", storage=optuna_url)
    assert done["state"] == "Completed", done["cli_output"][-3000:]
    study = optuna.load_study(study_name="pg-queue", storage=optuna_url)
    assert len(study.trials) == 4
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in study.trials)
    runs = runs_of(stack, "pg-queue")
    assert len(runs) == 4 and len({r.data.tags[names.WORKER] for r in runs}) == 2
    assert_one_trial_per_worker(runs)
    flow_runs = trial_flow_runs(stack, "pg-queue")
    assert len(flow_runs) == 4 and {r["state"] for r in flow_runs} == {"Completed"}
    assert most_at_once([(r["created"], r["end"]) for r in flow_runs]) == 3  # three in flight at once...
    assert most_at_once([(r["start"], r["end"]) for r in flow_runs]) == 2  # ...two running: one waited


def test_worker_killed_mid_trial(stack, optuna_url, slow_space):
    """A worker and its trial killed mid-epoch on PostgreSQL: the trial continues from its checkpoint."""
    sweep = start_sweep(stack, space=slow_space, n_trials=2, study_name="kill-worker", storage=optuna_url)
    victim = wait_for(lambda: trial_in_training(stack, "kill-worker"), 400, "a trial in training")
    worker, flow_run_id = victim.data.tags[names.WORKER], victim.data.tags[names.FLOW_RUN_ID]
    pids = pids_of_flow_run(flow_run_id)
    assert pids
    stack.stop(worker, signal.SIGKILL)  # the worker and, by pid, the trial it ran: a machine that died
    kill_all(pids, signal.SIGKILL)
    stack.start_worker(f"{worker}-replacement")
    out, _ = sweep.communicate(timeout=900)
    assert sweep.returncode == 0, out[-3000:]

    killed = flow_run(stack, flow_run_id)
    assert killed["state"] == "Crashed"  # by the zombie automation: its heartbeats stopped
    study = optuna.load_study(study_name="kill-worker", storage=optuna_url)
    assert len([t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]) == 2
    # the lost attempt is FAIL (by the sweep, or by Optuna for its stale heartbeat), and the trial continuing it
    # went on from its checkpoint, in the same MLflow run, each epoch logged once
    attempts = [t for t in study.trials if t.user_attrs.get(names.MLFLOW_RUN_ID) == victim.info.run_id]
    lost, continued = attempts
    assert lost.state == TrialState.FAIL and "Crashed" in lost.user_attrs.get(names.FAIL_REASON, "Crashed")
    assert continued.state == TrialState.COMPLETE and retried_from(continued) == lost.number
    assert names.RESUMED_FROM in continued.user_attrs
    history = MlflowClient(stack.mlflow_uri).get_metric_history(victim.info.run_id, "train_loss")
    steps = sorted(m.step for m in history)
    assert steps == list(range(1, len(steps) + 1))  # early stopping may end it before epoch 12
    status = {r.info.run_id: r.info.status for r in runs_of(stack, "kill-worker")}
    assert status[victim.info.run_id] == "FINISHED"
    assert "RUNNING" not in status.values()


def test_sweep_killed_and_started_again_adopts_the_live_trial(stack, optuna_url, slow_space):
    """The sweep dies (SIGKILL) while a trial trains and is started again at once: the new sweep counts the
    live trial flow run as in flight and waits for it; the trial finishes, nothing is failed or left running."""
    name = "kill-sweep"
    sweep = start_sweep(stack, space=slow_space, n_trials=2, study_name=name, storage=optuna_url)
    in_flight = wait_for(lambda: trial_in_training(stack, name), 900, "a trial in training")
    parent = MlflowClient(stack.mlflow_uri).search_runs(
        [in_flight.info.experiment_id], f"tags.`{names.STUDY}` = '{name}' and tags.`{names.ROLE}` = '{names.SWEEP_ROLE}'")[0]
    for pid in pids_of_flow_run(parent.data.tags["prefect.flow_run_id"]):
        os.kill(pid, signal.SIGKILL)  # the sweep only: its trial trains on
    sweep.wait(timeout=60)
    assert flow_run(stack, in_flight.data.tags[names.FLOW_RUN_ID])["state"] == "Running"

    # two in parallel: the adopted trial counts as one of them, so exactly one more is launched beside it
    again = run_sweep(stack, space=slow_space, n_trials=2, n_parallel=2, study_name=name, storage=optuna_url)
    assert again["state"] == "Completed", again["cli_output"][-3000:]
    assert "adopting 1 live trial flow run" in again["logs"]
    assert [s for n, s in again["task_runs"].items() if n.startswith("prepare")] == ["Cached"]
    study = optuna.load_study(study_name=name, storage=optuna_url)
    assert len(study.trials) == 2
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in study.trials)
    numbers = [t.number for t in study.trials]
    assert len(numbers) == len(set(numbers))
    runs = runs_of(stack, name)
    assert sorted(int(r.data.tags[names.TRIAL_NUMBER]) for r in runs) == sorted(numbers)  # one run each
    assert not {"RUNNING", "FAILED"} & {r.info.status for r in runs}
    adopted = next(t for t in study.trials if t.user_attrs.get(names.MLFLOW_RUN_ID) == in_flight.info.run_id)
    assert adopted.state == TrialState.COMPLETE
    assert MlflowClient(stack.mlflow_uri).get_run(in_flight.info.run_id).info.status == "FINISHED"
    trial_run = flow_run(stack, in_flight.data.tags[names.FLOW_RUN_ID])
    assert trial_run["state"] == "Completed" and trial_run["run_count"] == 1  # never failed, never retried


def test_unreachable_mlflow_server_is_waited_for(stack, optuna_url, monkeypatch):
    """While MLflow is down, the trial's step that needs it fails with a clear error and Prefect retries that
    step (a task retry), not the flow run: once the server is back the same flow run completes the trial."""
    from flows import tracking

    monkeypatch.setenv("MLFLOW_TRACKING_URI", stack.mlflow_uri)
    optuna.create_study(study_name="mlflow-down", storage=optuna_url, direction="maximize")
    parent = tracking.sweep_run("maestro-lstm", "mlflow-down", {}, {})
    prepared = subprocess.run([str(BIN / "python"), "-c", "from flows.sweep.prepare import prepare_data; "
                               "print(prepare_data(None))"], env=stack.env(), cwd=REPO, capture_output=True,
                              text=True, check=True).stdout.strip().splitlines()[-1]

    stack.stop("mlflow-server")

    submitted = prefect(stack, "deployment", "run", "trial/run", "--params", json.dumps(dict(
        study_name="mlflow-down", space="smoke", prepared=prepared, parent_run=parent, storage=optuna_url)))
    flow_run_id = next(line.split("UUID:")[1].strip() for line in submitted.stdout.splitlines() if "UUID:" in line)

    def ask_awaits_retry():
        tasks = flow_run(stack, flow_run_id)["task_runs"]
        return any(name.startswith("ask") and state == "AwaitingRetry" for name, state in tasks.items())

    wait_for(ask_awaits_retry, 300, "the trial's first step to fail and wait for its retry")
    assert flow_run(stack, flow_run_id)["state"] == "Running"  # the flow run itself did not fail
    stack.start_mlflow()
    stack.wait_ready()
    final = wait_for(lambda: (r := flow_run(stack, flow_run_id))["state"] in ("Completed", "Failed", "Crashed")
                     and r, 600, "the trial")
    assert final["state"] == "Completed", final["logs"][-3000:]
    assert final["run_count"] == 1  # one flow run attempt: only the step was retried
    assert "MLflow tracking server" in final["logs"] and "unreachable" in final["logs"]
    trials = optuna.load_study(study_name="mlflow-down", storage=optuna_url).trials
    assert len(trials) == 1 and trials[0].state == TrialState.COMPLETE  # asked once, by the attempt that ran
    assert MlflowClient(stack.mlflow_uri).get_run(trials[0].user_attrs[names.MLFLOW_RUN_ID]).info.status == "FINISHED"


def test_a_bad_configuration_fails_at_once(stack, optuna_url, tmp_path):
    """A deterministic failure is not retried nor continued: the trial fails on its first attempt, with its
    reason in Optuna and MLflow, and the sweep stops after n_trials failures. (A value TrainConfig refuses is
    refused before anything runs, flows/space_check.py; a window longer than every file only the data shows.)"""
    import yaml

    from flows.space import load_space

    doc = yaml.safe_load(load_space("smoke").path.read_text())
    doc["fixed"]["seq_len"] = 100_000
    space = tmp_path / "bad-seq-len.yaml"
    space.write_text(yaml.safe_dump(doc))
    done = run_sweep(stack, space=str(space), n_trials=1, study_name="bad-config", storage=optuna_url)
    assert done["state"] == "Completed", done["cli_output"][-3000:]
    [trial] = optuna.load_study(study_name="bad-config", storage=optuna_url).trials
    assert trial.state == TrialState.FAIL and "no training window" in trial.user_attrs[names.FAIL_REASON]
    assert names.LOSSES not in trial.user_attrs and len(optuna.load_study(study_name="bad-config",
                                                                          storage=optuna_url).trials) == 1
    [attempt] = trial_flow_runs(stack, "bad-config")
    assert attempt["id"] == trial.user_attrs[names.FLOW_RUN_ID]
    assert attempt["state"] == "Failed" and attempt["run_count"] == 1  # no retry
    run = MlflowClient(stack.mlflow_uri).get_run(trial.user_attrs[names.MLFLOW_RUN_ID])
    assert run.info.status == "FAILED" and "no training window" in run.data.tags[names.FAIL_REASON]


def start_worker_on_another_machine(stack, name: str, home) -> None:
    """A trial worker that shares no folder with the sweep: in a private mount namespace where the stack's state
    directory and the data cache (the embedded MIDI files) are empty tmpfs mounts, with its own state directory."""
    import shlex

    from lstm.data.corpus import default_cache_dir

    hidden = [stack.state, default_cache_dir()]
    argv = [str(BIN / "prefect"), "worker", "start", "--pool", names.TRIAL_POOL, "--type", "process", "--name", name,
            "--limit", "1"]
    script = "".join(f"mount -t tmpfs tmpfs {shlex.quote(str(p))} && " for p in hidden) + "exec " + shlex.join(argv)
    env = stack.env() | {names.WORKER_ENV: name, "MAESTRO_LSTM_HOME": str(home), "PREFECT_HOME": str(home / "prefect"),
                         "PREFECT_LOCAL_STORAGE_PATH": str(home / "prefect" / "results")}
    stack._spawn(name, ["unshare", "--mount", "--propagation", "private", "sh", "-c", script], env)


def test_a_machine_sharing_no_folder_fetches_the_data_and_continues_a_lost_trial(stack, optuna_url, slow_space,
                                                                                 tmp_path):
    """The trial workers share nothing with the sweep but the servers: the first fetches the published data set,
    is killed mid-trial, and a second (a fresh machine) fetches the data set and the trial's checkpoint from the
    artifact store and completes the trial from there."""
    name = "no-shared-folder"
    trial_workers = [w for w in stack.running() if w.startswith("worker-")]  # a replacement an earlier test started too
    for worker in trial_workers:
        stack.stop(worker)
    try:
        start_worker_on_another_machine(stack, "remote-0", tmp_path / "remote-0")
        sweep = start_sweep(stack, space=slow_space, n_trials=1, study_name=name, storage=optuna_url)
        victim = wait_for(lambda: trial_in_training(stack, name), 600, "a trial in training")
        assert victim.data.tags[names.WORKER] == "remote-0"
        pids = pids_of_flow_run(victim.data.tags[names.FLOW_RUN_ID])
        stack.stop("remote-0", signal.SIGKILL)
        kill_all(pids, signal.SIGKILL)
        start_worker_on_another_machine(stack, "remote-1", tmp_path / "remote-1")
        out, _ = sweep.communicate(timeout=900)
        assert sweep.returncode == 0, out[-3000:]
    finally:
        stack.stop("remote-0")
        stack.stop("remote-1")
        for worker in ("worker-0", "worker-1"):
            stack.start_worker(worker)

    study = optuna.load_study(study_name=name, storage=optuna_url)
    lost, continued = study.trials
    assert lost.state == TrialState.FAIL and continued.state == TrialState.COMPLETE
    assert retried_from(continued) == lost.number and continued.user_attrs[names.WORKER] == "remote-1"
    assert names.RESUMED_FROM in continued.user_attrs  # from the checkpoint remote-0 uploaded
    for home in ("remote-0", "remote-1"):  # each downloaded the data set into its own state directory
        assert [p.name for p in (tmp_path / home / "data").glob("*/manifest.json")] == ["manifest.json"]
    run = MlflowClient(stack.mlflow_uri).get_run(victim.info.run_id)
    assert run.info.status == "FINISHED" and run.data.metrics[names.phase_metric("data_fetch")] > 0
    artifacts = {a.path for a in MlflowClient(stack.mlflow_uri).list_artifacts(victim.info.run_id, names.MUSIC_DIR)}
    assert f"{names.MUSIC_DIR}/sample.mid" in artifacts
