"""The steps by which a trial outlives its worker (docs/scaling.md): the data set fetched where this machine
lacks it, the checkpoint it goes on from, and the end of an attempt SIGTERM stopped. Each talks to a server,
so each is a server step (retried on transient failures, flows/trial/retry.py)."""

from __future__ import annotations

from pathlib import Path

import optuna
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType
from prefect.runtime import flow_run

from lstm.checkpoint import Interrupted

from .. import tracking
from ..names import OPTUNA_STATE, RESUMED_FROM, STOPPED
from ..requeue import lose
from . import checkpoints
from .data import local_data
from .retry import server_step


@server_step
def fetch_data(prepared: str, data_run: str) -> Path:
    return local_data(prepared, data_run)


@server_step
def resume_from(live: optuna.Trial, run_id: str, run_dir: Path) -> tuple[tuple[int, int] | None, set[int]]:
    """The checkpoint this trial goes on from (the furthest of this machine's and the artifact store's)
    and the epochs already logged to its run."""
    at = checkpoints.fetch(run_id, run_dir)
    if at is None:
        return None, set()
    live.set_user_attr(RESUMED_FROM, checkpoints.describe(at))  # the sweep announces it
    tracking.set_tags(run_id, {RESUMED_FROM: checkpoints.describe(at)})
    return at, checkpoints.logged_epochs(run_id)


@server_step
def end_stopped(study: optuna.Study, storage, live: optuna.Trial, run_id: str, stopped: Interrupted) -> str:
    """A trial SIGTERM stopped: its run ends KILLED, tagged `stopped` (cancelled or preempted), and the
    trial continues as a new one from the checkpoint just uploaded (a cancel does not count as a loss)."""
    with get_client(sync_client=True) as client:
        cancelled = client.read_flow_run(flow_run.id).state.type == StateType.CANCELLING
    how = "cancelled" if cancelled else "preempted"
    tracking.set_tags(run_id, {STOPPED: how, OPTUNA_STATE: "FAIL"})
    tracking.close_run(run_id, "KILLED")
    reason = f"{how} in epoch {stopped.epoch} after {stopped.batches} batches, checkpoint saved"
    return lose(study, storage, live.number, reason, lost=not cancelled) or reason
