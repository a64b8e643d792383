"""Issue 21 §5: the servers may restart. While a study's trials train, each server in turn (MLflow, PostgreSQL,
which holds Optuna's study and MLflow's backend, then Prefect) is stopped for OUTAGE_SECONDS and started again
with its state kept: the sweep and the live trials wait for each, and the study ends as if nothing happened.
One study for the three restarts (a trial logs an epoch between two of them): three studies, each with its
own wait for the trials' heartbeat grace, took three times as long."""

from __future__ import annotations

import time
import warnings

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState
from test_faults import runs_of, wait_for

from flows import names
from flows.storage import make_storage

from pg import postgres_server, require_postgres
from stack import flow_run, running_stack, start_sweep, trial_flow_runs

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

OUTAGE_SECONDS = 40  # the 30–60 s
ENDED = ("Completed", "Failed", "Crashed", "Cancelled")


@pytest.fixture(scope="module")
def pg(tmp_path_factory):
    require_postgres()
    with postgres_server(tmp_path_factory.mktemp("pg")) as server:
        yield server


@pytest.fixture(scope="module")
def stack(tmp_path_factory, embedded_dir, pg):
    with running_stack(tmp_path_factory.mktemp("state"), workers=2,
                       mlflow_backend=pg.create_database("mlflow", driver="psycopg2")) as s:
        yield s


@pytest.fixture(scope="module")
def optuna_url(pg):
    return pg.create_database("optuna", driver="psycopg2")


@pytest.fixture(scope="module")
def slow_space(tmp_path_factory) -> str:
    """`smoke` with twelve epochs a trial and no early stop, so that every outage falls while the trials train."""
    import yaml

    from flows.space import load_space

    doc = yaml.safe_load(load_space("smoke").path.read_text())
    doc["search"]["epochs"] = [12]
    doc["fixed"] |= {"patience": 0}
    path = tmp_path_factory.mktemp("spaces") / "slow-smoke.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def restart(server: str, stack, pg) -> None:
    if server == "postgresql":
        pg.stop()
        time.sleep(OUTAGE_SECONDS)
        pg.start()
        return
    stack.stop(server)
    time.sleep(OUTAGE_SECONDS)
    stack.start_prefect() if server == "prefect-server" else stack.start_mlflow()
    stack.wait_ready()


def epochs_in_training(stack, study: str) -> int:
    """The epochs the study's running trial runs have logged so far, all together."""
    c = MlflowClient(stack.mlflow_uri)
    return sum(len(c.get_metric_history(r.info.run_id, "val_accuracy"))
               for r in runs_of(stack, study) if r.info.status == "RUNNING")


def a_new_epoch(stack, study: str, logged: int, server: str) -> int:
    """Waits until a running trial has logged an epoch beyond `logged` (the trials train, not wait for a server)."""
    return wait_for(lambda: (n := epochs_in_training(stack, study)) > logged and n, 600,
                    f"a trial to log an epoch before {server} restarts")


# Prefect last: the --watch terminal's event stream ends with the Prefect server it came from
SERVERS = ("mlflow-server", "postgresql", "prefect-server")


@pytest.mark.timeout(1800)  # three restarts: pyproject.toml's 900 s was for one
def test_servers_restarted_one_after_another_mid_study_are_ridden_out(stack, pg, optuna_url, slow_space):
    name = "restarts"
    sweep = start_sweep(stack, space=slow_space, n_trials=2, n_parallel=2, study_name=name, storage=optuna_url)
    logged = 0
    for server in SERVERS:
        logged = a_new_epoch(stack, name, logged, server)
        if server == "prefect-server":  # the sweep's terminal rode out the MLflow and PostgreSQL outages
            assert sweep.poll() is None, sweep.communicate()[0][-3000:]
        restart(server, stack, pg)
    # what the next trial to ask does (flows/trial/flow.py): a live trial whose heartbeats did not resume
    # after an outage would be failed here, once their grace is over
    time.sleep(names.TRIAL_GRACE_SECONDS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(optuna.load_study(study_name=name, storage=make_storage(optuna_url)))
    out, _ = sweep.communicate(timeout=900)
    sweep_id = next(line.split("UUID:")[1].strip() for line in out.splitlines() if "UUID:" in line)
    done = wait_for(lambda: (r := flow_run(stack, sweep_id))["state"] in ENDED and r, 900, "the sweep to end")
    assert done["state"] == "Completed" and done["run_count"] == 1, done["logs"][-3000:]

    study = optuna.load_study(study_name=name, storage=optuna_url)
    assert len(study.trials) == 2, [(t.number, t.state, t.user_attrs) for t in study.trials]
    for t in study.trials:  # none failed, none lost and continued
        assert t.state in (TrialState.COMPLETE, TrialState.PRUNED), (t.number, t.state, t.user_attrs)
        assert names.LOSSES not in t.user_attrs and names.FAIL_REASON not in t.user_attrs, t.user_attrs
    runs = runs_of(stack, name)
    assert len(runs) == 2
    assert {r.info.status for r in runs} <= {"FINISHED", "KILLED"}  # KILLED: pruned (MLflow has no PRUNED)
    assert not any(names.RETRY_OF in r.data.tags for r in runs)
    parent = MlflowClient(stack.mlflow_uri).get_run(runs[0].data.tags[names.PARENT_RUN])
    assert parent.info.status == "FINISHED"
    flow_runs = [r for r in trial_flow_runs(stack, name) if r["pool"] == names.TRIAL_POOL]  # not the sweep's
    assert len(flow_runs) == 2 and {r["state"] for r in flow_runs} == {"Completed"}, flow_runs
    assert all(r["run_count"] == 1 for r in flow_runs)  # no trial flow run was run again
    assert parent.data.tags[names.FLOW_RUN_ID] == sweep_id
