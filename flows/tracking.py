"""MLflow bookkeeping of a sweep: one parent run per study, one nested child run per trial.

Each trial flow creates its child run once it has asked Optuna (so the run has the trial's number
and parameters); the sweep closes it (FAILED) if the trial's flow run dies. MLflow has no PRUNED status:
a pruned trial's run ends KILLED with the tag `optuna.state=PRUNED`. Runs are addressed by id through
the client, never through MLflow's process-wide active run.
"""

from __future__ import annotations

import json
import time
import urllib.request

from mlflow.entities import Metric, RunTag
from mlflow.tracking import MlflowClient

from .names import EXPERIMENT, FAIL_REASON, PARENT_RUN, ROLE, STUDY, SWEEP_ROLE, TRIAL_NUMBER
from .settings import tracking_uri


def check_reachable(timeout: float = 5) -> None:
    """Raise a clear error when the tracking server does not answer (the trial is then retried)."""
    uri = tracking_uri()
    if not uri.startswith("http"):
        return
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout):
            return
    except OSError as exc:
        raise ConnectionError(f"MLflow tracking server {uri} is unreachable: {exc}") from None


def client() -> MlflowClient:
    return MlflowClient(tracking_uri())


def experiment_id(name: str) -> str:
    c = client()
    exp = c.get_experiment_by_name(name)
    return exp.experiment_id if exp else c.create_experiment(name)


def find_sweep_run(experiment: str, study_name: str) -> str | None:
    found = client().search_runs([experiment_id(experiment)],
                                 f"tags.`{STUDY}` = '{study_name}' and tags.`{ROLE}` = '{SWEEP_ROLE}'", max_results=1)
    return found[0].info.run_id if found else None


def close_sweep_run(study_name: str, status: str, experiment: str = EXPERIMENT) -> None:
    if run_id := find_sweep_run(experiment, study_name):
        close_run(run_id, status)


def sweep_run(experiment: str, study_name: str, tags: dict, params: dict) -> str:
    """The study's parent run: reopened when the study continues, created otherwise."""
    c, exp = client(), experiment_id(experiment)
    if run_id := find_sweep_run(experiment, study_name):
        c.update_run(run_id, status="RUNNING")
    else:
        run_id = c.create_run(exp, run_name=study_name,
                              tags={STUDY: study_name, ROLE: SWEEP_ROLE}).info.run_id
        for key, value in params.items():
            c.log_param(run_id, key, value)
    for key, value in tags.items():
        c.set_tag(run_id, key, value)
    return run_id


def study_tag(experiment: str, study_name: str, key: str) -> str | None:
    """A tag of the study's parent run; None when there is no such run or tag."""
    c = client()
    exp = c.get_experiment_by_name(experiment)
    found = exp and c.search_runs([exp.experiment_id], f"tags.`{STUDY}` = '{study_name}' and "
                                  f"tags.`{ROLE}` = '{SWEEP_ROLE}'", max_results=1)
    return found[0].data.tags.get(key) if found else None


def trial_run(experiment: str, parent_id: str, study_name: str, number: int, params: dict) -> str:
    c = client()
    run = c.create_run(experiment_id(experiment), run_name=f"{study_name}-trial-{number}",
                       tags={PARENT_RUN: parent_id, STUDY: study_name, TRIAL_NUMBER: str(number)})
    for key, value in params.items():
        c.log_param(run.info.run_id, key, value)
    return run.info.run_id


def reopen_run(run_id: str) -> None:
    """A run a lost attempt ended (FAILED, KILLED) is RUNNING again: the trial continuing it logs on."""
    client().update_run(run_id, status="RUNNING")


def set_tags(run_id: str, tags: dict) -> None:
    client().log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])


def log_metrics(run_id: str, metrics: dict, step: int = 0) -> None:
    """One request for all of them, at one step."""
    now = int(time.time() * 1000)
    client().log_batch(run_id, metrics=[Metric(k, float(v), now, step) for k, v in metrics.items()])


def close_run(run_id: str, status: str, reason: str | None = None) -> None:
    """End a run unless it already ended; `status` is FINISHED, FAILED or KILLED."""
    c = client()
    if reason:
        c.set_tag(run_id, FAIL_REASON, reason[:5000])
    if c.get_run(run_id).info.status == "RUNNING":
        c.set_terminated(run_id, status)


def log_json(run_id: str, obj: dict, path: str) -> None:
    client().log_text(run_id, json.dumps(obj, indent=2), path)

