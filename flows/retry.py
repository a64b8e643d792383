"""Which failures of a trial flow a retry can fix: a server that did not answer, not the trial itself.

Transient: MLflow, Prefect or the Optuna database unreachable or timing out (MLflow's client wraps the
connection error in an MlflowException: the cause chain is searched). Everything else (a bad configuration's
ValueError, torch.OutOfMemoryError at that size, the FloatingPointError of a diverged loss, a bug) fails the
same way again, so it fails the trial at once.

Prefect 3.9's flows have no `retry_condition_fn` (its tasks do): the server retries a Failed flow run while
its run count is within the policy's `retries`. For a failure that no retry can fix, `no_more_retries` sets
that policy to the attempts already made (Prefect's own client call, the one the engine uses to store the
flow's retries), so the Failed state is final.
"""

from __future__ import annotations

import httpx
import requests
import sqlalchemy.exc
import torch
from mlflow.exceptions import MlflowException
from prefect import get_run_logger
from prefect.client.orchestration import get_client
from prefect.runtime import flow_run

DETERMINISTIC = (ValueError, torch.OutOfMemoryError, FloatingPointError)
TRANSIENT = (ConnectionError, TimeoutError, requests.ConnectionError, requests.Timeout, httpx.TransportError,
             sqlalchemy.exc.OperationalError, sqlalchemy.exc.DisconnectionError)
UNAVAILABLE = (502, 503, 504)  # a proxy or server in front of MLflow that is restarting


def transient(exc: BaseException) -> bool:
    """True when `exc`, or an exception that caused it, says a server could not be reached."""
    if isinstance(exc, DETERMINISTIC):
        return False
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, TRANSIENT):
            return True
        if isinstance(exc, MlflowException) and exc.get_http_status_code() in UNAVAILABLE:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def no_more_retries(reason: str) -> None:
    """Make the current flow run's coming Failed state final: no retry would end otherwise."""
    if flow_run.id is None:  # called outside a flow run (a test calling the function)
        return
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(flow_run.id)
        if run.empirical_policy.retries and run.empirical_policy.retries >= run.run_count:
            policy = run.empirical_policy.model_copy(update={"retries": run.run_count - 1})
            client.update_flow_run(run.id, empirical_policy=policy)
    get_run_logger().error("not retried (a retry would fail the same way): %s", reason[:2000])
