"""`make up`'s options on a real stack: a trial worker taking two trials at once (TRIALS_PER_GPU=2), and the
servers' credentials (flows/ops/credentials.py). One stack with both, one sweep of two trials two at a time:
each server refuses a client without the credentials, and the study runs with them. PostgreSQL (the compose
stack's third server; the local stack has none) on a server of its own."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import urllib.error
import urllib.request

import optuna
import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from flows import names
from flows.ops.credentials import MLFLOW_PASSWORD, MLFLOW_USER, PREFECT_CLIENT_AUTH, Credentials
from flows.ops.machine import wait_http

from pg import postgres_server, require_postgres
from stack import BIN, REPO, free_port, run_sweep, running_stack, trial_flow_runs

STUDY = "e2e-packed"
CREDENTIALS = Credentials(prefect_auth="maestro:prefect-test-secret", mlflow_user="maestro",
                          mlflow_password="mlflow-test-secret")


def _basic(secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(secret.encode()).decode()}


def _status(url: str, headers: dict[str, str] | None = None, body: bytes | None = None) -> int:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=60) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


@pytest.fixture(scope="module")
def stack(tmp_path_factory, embedded_dir):
    with running_stack(tmp_path_factory.mktemp("state"), workers=1, trials_per_gpu=2, credentials=CREDENTIALS) as s:
        yield s


@pytest.fixture(scope="module")
def sweep(stack):
    return run_sweep(stack, space="smoke", n_trials=2, n_parallel=2, study_name=STUDY)


@pytest.mark.e2e
def test_the_study_runs_with_credentials(stack, sweep, monkeypatch):
    assert sweep["state"] == "Completed", sweep["cli_output"][-3000:]
    monkeypatch.setenv(MLFLOW_USER, CREDENTIALS.mlflow_user)
    monkeypatch.setenv(MLFLOW_PASSWORD, CREDENTIALS.mlflow_password)
    c = MlflowClient(stack.mlflow_uri)
    exp = c.get_experiment_by_name(names.EXPERIMENT)
    runs = c.search_runs([exp.experiment_id], f"tags.`{names.STUDY}` = '{STUDY}'")
    assert len([r for r in runs if r.data.tags.get(names.PARENT_RUN)]) == 2
    assert c.get_model_version_by_alias(names.EMBEDDED_MODEL, names.CHAMPION).run_id in {r.info.run_id for r in runs}


@pytest.mark.e2e
def test_two_trials_share_one_worker(stack, sweep, monkeypatch):
    """TRIALS_PER_GPU=2: the one trial worker (`--limit 2`) ran both trials, in two processes, at the same time."""
    assert sweep["state"] == "Completed", sweep["cli_output"][-3000:]
    runs = trial_flow_runs(stack, STUDY)
    assert len(runs) == 2 and {r["state"] for r in runs} == {"Completed"}, runs
    assert {r["pool"] for r in runs} == {names.TRIAL_POOL}
    assert len({r["infrastructure_pid"] for r in runs}) == 2, runs
    first_end = min(r["end"] for r in runs)
    assert all(r["start"] < first_end for r in runs), runs  # each started before either ended
    monkeypatch.setenv("MAESTRO_LSTM_HOME", str(stack.state))
    from flows.storage import make_storage

    trials = optuna.load_study(study_name=STUDY, storage=make_storage("")).trials
    assert [t.user_attrs[names.WORKER] for t in trials] == ["worker-0", "worker-0"]
    assert {t.user_attrs[names.FLOW_RUN_ID] for t in trials} == {r["id"] for r in runs}


@pytest.mark.e2e
def test_prefect_refuses_a_client_without_its_auth_string(stack, sweep):
    url = f"{stack.prefect_api}/flow_runs/filter"
    assert _status(url, body=b"{}") == 401
    assert _status(url, _basic("maestro:wrong"), body=b"{}") == 401
    assert _status(url, _basic(CREDENTIALS.prefect_auth), body=b"{}") == 200
    assert _status(f"{stack.prefect_api}/health") == 200  # what the stack and compose wait on
    env = {k: v for k, v in stack.env().items() if k != PREFECT_CLIENT_AUTH}
    done = subprocess.run([str(BIN / "prefect"), "deployment", "ls"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "401" in done.stdout + done.stderr


@pytest.mark.e2e
def test_mlflow_refuses_a_client_without_credentials(stack, sweep, monkeypatch):
    url = f"{stack.mlflow_uri}/api/2.0/mlflow/experiments/search?max_results=1"
    assert _status(url) == 401
    assert _status(url, _basic(f"{CREDENTIALS.mlflow_user}:wrong")) == 401
    assert _status(url, _basic(f"{CREDENTIALS.mlflow_user}:{CREDENTIALS.mlflow_password}")) == 200
    monkeypatch.delenv(MLFLOW_USER, raising=False)
    monkeypatch.delenv(MLFLOW_PASSWORD, raising=False)
    with pytest.raises(MlflowException, match="401|Unauthorized|credentials"):
        MlflowClient(stack.mlflow_uri).search_experiments()


@pytest.mark.postgres
def test_postgresql_refuses_a_client_without_its_password(tmp_path, monkeypatch):
    """PostgreSQL's own mechanism, as the compose stack's server has it: password auth over the network
    (docker/postgres-entrypoint.sh runs initdb --auth-host=scram-sha-256, as tests/pg.py does; the official image
    does the same when POSTGRES_PASSWORD is set). A study's storage with the password works."""
    import psycopg2

    from flows.storage import make_storage

    require_postgres()
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-pgpass"))
    with postgres_server(tmp_path) as pg:
        for password in ("", "wrong-password"):
            with pytest.raises(psycopg2.OperationalError, match="password"):
                psycopg2.connect(host=pg.host, port=pg.port, user=pg.user, password=password, dbname="postgres",
                                 connect_timeout=30)
        study = optuna.create_study(study_name="with-password", direction="maximize",
                                    storage=make_storage(pg.create_database("optuna")))
        study.tell(study.ask(), 0.5)
        assert [t.value for t in study.trials] == [0.5]


def test_half_the_mlflow_credentials_are_refused_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in (MLFLOW_USER, MLFLOW_PASSWORD)}
    done = subprocess.run([sys.executable, "-m", "flows.ops.stack", "status"], cwd=REPO, capture_output=True,
                          text=True, timeout=120, env=env | {MLFLOW_USER: "maestro", "MAESTRO_LSTM_HOME": str(tmp_path)})
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].endswith(f"{MLFLOW_USER} and {MLFLOW_PASSWORD} go together: set "
                                                         "both or neither")


def test_credentials_reach_every_client_and_each_server_its_own(tmp_path):
    assert CREDENTIALS.client_env() == {PREFECT_CLIENT_AUTH: CREDENTIALS.prefect_auth, MLFLOW_USER: "maestro",
                                        MLFLOW_PASSWORD: "mlflow-test-secret"}
    assert CREDENTIALS.prefect_server_env() == {"PREFECT_SERVER_API_AUTH_STRING": CREDENTIALS.prefect_auth}
    args, env = CREDENTIALS.mlflow_server(tmp_path)
    assert args == ["--app-name", "basic-auth"] and env["MLFLOW_AUTH_ADMIN_PASSWORD"] == "mlflow-test-secret"
    assert "mlflow-test-secret" not in (tmp_path / "basic_auth.ini").read_text()  # the admin's password: env only
    none = Credentials.from_env({})
    assert none.client_env() == none.prefect_server_env() == {} and none.mlflow_server(tmp_path) == ([], {})


def test_a_server_that_exits_at_start_is_reported_at_once(tmp_path):
    """A server refused its settings (MLflow a short password, say) ends the wait with its log, not a timeout."""
    log = tmp_path / "server.log"
    with open(log, "w") as out:
        server = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit('refused: the settings are wrong')"],
                                  stderr=out)
    # not reaped: the stack's servers, children of `make up` or of the tests, stay zombies once they exit
    with pytest.raises(RuntimeError, match="exited before it answered\n.*refused: the settings are wrong"):
        wait_http(f"http://127.0.0.1:{free_port()}/health", 600, log, server.pid)
    assert server.wait() == 1
