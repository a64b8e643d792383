"""Whether an exception says a server (MLflow, Prefect, the Optuna database) could not be reached: what a
wait can fix. Torch-free, so that the sweep (pool `cpu`, no torch) and the trials (flows/trial/retry.py)
judge outages alike.

MLflow's client wraps the connection error in an MlflowException, Optuna's RDB storage wraps SQLAlchemy's
OperationalError in a StorageInternalError: the cause chain is searched.
"""

from __future__ import annotations

import sys

import httpx
import requests
from mlflow.exceptions import MlflowException

TRANSIENT = (ConnectionError, TimeoutError, requests.ConnectionError, requests.Timeout, httpx.TransportError)
UNAVAILABLE = (502, 503, 504)  # a proxy or server in front of MLflow that is restarting


def database_errors() -> tuple:
    """SQLAlchemy's, where it is loaded: a trial on the journal storage never imports it (~0.1 s), and an
    exception of a module never imported cannot have been raised."""
    sa = sys.modules.get("sqlalchemy.exc")
    return (sa.OperationalError, sa.DisconnectionError) if sa else ()


def unreachable(exc: BaseException) -> bool:
    """True when `exc`, or an exception that caused it, says a server could not be reached."""
    seen, transient = set(), TRANSIENT + database_errors()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, transient):
            return True
        if isinstance(exc, MlflowException) and exc.get_http_status_code() in UNAVAILABLE:
            return True
        exc = exc.__cause__ or exc.__context__
    return False
