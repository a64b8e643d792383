"""Cancelling a sweep (the Prefect UI's Cancel, `prefect flow-run cancel ID`) is a pause: its hook cancels the
study's live trial flow runs, each of which saves a checkpoint and continues as a new trial when the study
runs again (flows/trial/stop.py, flows/requeue.py), and ends the study's MLflow parent run KILLED.
"""

from __future__ import annotations

from prefect.client.orchestration import get_client
from prefect.states import Cancelling

from .. import tracking
from ..names import STUDY_TAG
from .launch import live_trial_runs


def cancel_trials(flow, flow_run, state) -> None:
    """The sweep's on_cancellation hook (run by its engine or by its worker, whichever handles the cancel)."""
    with get_client(sync_client=True) as client:
        tags = client.read_flow_run(flow_run.id).tags
        for name in [t.removeprefix(STUDY_TAG) for t in tags if t.startswith(STUDY_TAG)]:
            for run in live_trial_runs(client, name):
                client.set_flow_run_state(run.id, Cancelling(message=f"its sweep {flow_run.name} was cancelled"),
                                          force=True)
                print(f"cancelling trial flow run {run.name} of study {name}")
            experiment = (flow_run.parameters or {}).get("experiment") or None
            tracking.close_sweep_run(name, "KILLED", **({"experiment": experiment} if experiment else {}))
