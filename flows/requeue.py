"""What becomes of a trial that did not end by itself: lost (its worker died, its machine was preempted) or
cancelled, it continues as a new trial with the same parameters, from the original's checkpoint.

Optuna's own retry does the continuing (RetryHeartbeatStaleTrialCallback): a WAITING trial with the same
parameters, the epochs reported so far (so the pruner sees them) and the original's number
(`retried_trial_number`). The next trial flow to ask gets it and goes on from the checkpoint in the
original's MLflow run (flows/trial/checkpoints.py). `Requeue` is that callback with the study's policy
on top: after `max_restarts` losses the trial stays failed, and a cancel is not a loss. It is the PostgreSQL
storage's callback for stale heartbeats; the sweep calls it (through `lose`) for a trial whose flow run died,
on either storage, and a trial calls it for itself when SIGTERM stopped it.
"""

from __future__ import annotations

import copy
import warnings

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial

from . import tracking
from .names import (
    FAIL_REASON,
    FLOW_RUN_ID,
    LOSSES,
    MAX_RESTARTS,
    MLFLOW_RUN_ID,
    RESUMED_FROM,
    STOPPED,
    WORKER,
)
from .storage import fail_trial, trial_id

DEFAULT_MAX_RESTARTS = 2
ATTEMPT_ATTRS = (FLOW_RUN_ID, WORKER, FAIL_REASON, RESUMED_FROM, STOPPED)  # the lost attempt's, not the trial's


def max_restarts(study: optuna.Study) -> int:
    return int(study.user_attrs.get(MAX_RESTARTS, DEFAULT_MAX_RESTARTS))


def losses_after(trial: FrozenTrial, lost: bool) -> int:
    return int(trial.user_attrs.get(LOSSES, 0)) + int(lost)


class Requeue:
    """Continue a failed trial as a WAITING one, unless it was lost more than the study's max_restarts.
    The lost attempt's MLflow run ends FAILED unless it ended already (the trial continuing it reopens it)."""

    def __call__(self, study: optuna.Study, trial: FrozenTrial, lost: bool = True) -> bool:
        if run_id := trial.user_attrs.get(MLFLOW_RUN_ID):
            tracking.close_run(run_id, "FAILED", trial.user_attrs.get(FAIL_REASON, "its heartbeat stopped"))
        losses = losses_after(trial, lost)
        if losses > max_restarts(study):
            return False
        retry = copy.deepcopy(trial)
        retry.user_attrs = {k: v for k, v in trial.user_attrs.items() if k not in ATTEMPT_ATTRS} | {LOSSES: losses}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            RetryHeartbeatStaleTrialCallback(inherit_intermediate_values=True)(study, retry)
        return True


def lose(study: optuna.Study, storage, number: int, reason: str, lost: bool = True) -> str | None:
    """Fail the RUNNING trial `number` with its reason and continue it (Requeue); the reason as recorded,
    or None if the trial finished meanwhile."""
    tid = trial_id(storage, study.study_name, number)
    losses, limit = losses_after(storage.get_trial(tid), lost), max_restarts(study)
    if losses > limit:
        reason = f"{reason}; lost {losses} times (max_restarts {limit}): not continued"
    if not fail_trial(study, storage, number, reason):
        return None
    Requeue()(study, storage.get_trial(tid), lost)
    return reason


def retried_from(trial: FrozenTrial) -> int | None:
    """The number of the trial this one continues (the first of its line), None for a new trial."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return RetryHeartbeatStaleTrialCallback.retried_trial_number(trial)


def continued_flow_runs(study: optuna.Study) -> set[str]:
    """The flow runs of attempts that a later trial continues: losses, not failures of the setup."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        lost = {n for t in study.get_trials(deepcopy=False) for n in RetryHeartbeatStaleTrialCallback.retry_history(t)}
    return {t.user_attrs[FLOW_RUN_ID] for t in study.get_trials(deepcopy=False)
            if t.number in lost and FLOW_RUN_ID in t.user_attrs}
