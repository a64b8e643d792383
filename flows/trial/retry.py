"""Which failures of a trial a retry can fix — a server that did not answer, not the trial itself — and
the retry policy of the trial's steps that talk to servers.

Transient: MLflow, Prefect or the Optuna database unreachable or timing out (MLflow's client wraps the
connection error in an MlflowException: the cause chain is searched). Everything else (a bad configuration's
ValueError, torch.OutOfMemoryError at that size, the FloatingPointError of a diverged loss, a bug) fails the
same way again, so it is never retried (an out-of-memory error beside other trials on the GPU is a loss of
the attempt instead: flows/trial/packing.py).

Prefect's own mechanism does the retrying: each step that talks to a server is a task (`server_step`) with
`retries` and a `retry_condition_fn` that retries only transient failures. The trial flow itself has no
retries, so training is never repeated for a server's sake: a step waits for its server and training goes
on from where it was.
"""

from __future__ import annotations

import torch
from prefect import task
from prefect.cache_policies import NO_CACHE

from flows.unreachable import unreachable

DETERMINISTIC = (ValueError, torch.OutOfMemoryError, FloatingPointError)
RETRY_DELAYS = [5, 10, 20, 30, 60, 60, 60]  # seconds between attempts: a server gets ~4 minutes to come back


def transient(exc: BaseException) -> bool:
    """True when `exc`, or an exception that caused it, says a server could not be reached
    (flows/unreachable.py), unless it is one that would fail the same way again."""
    return not isinstance(exc, DETERMINISTIC) and unreachable(exc)


def retry_if_transient(task, task_run, state) -> bool:
    """Prefect's retry_condition_fn: retry the step only when its exception is transient."""
    try:
        state.result()
    except Exception as exc:  # the step's own exception, re-raised by the Failed state
        return transient(exc)
    return False


def server_step(fn):
    """A trial step that talks to a server, as a Prefect task retried on transient failures only. Its inputs
    are live objects (a study, a trial), so nothing is cached or persisted."""
    return task(fn, retries=len(RETRY_DELAYS), retry_delay_seconds=RETRY_DELAYS, retry_condition_fn=retry_if_transient,
                cache_policy=NO_CACHE, persist_result=False)
