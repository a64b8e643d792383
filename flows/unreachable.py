"""Whether an exception says a server (MLflow, Prefect, the Optuna database) could not be reached: what a
wait can fix. Torch-free, so that the sweep (pool `cpu`, no torch) and the trials (flows/trial/retry.py)
judge outages alike.

MLflow's client wraps the connection error in an MlflowException, Optuna's RDB storage wraps SQLAlchemy's
OperationalError in a StorageInternalError: the cause chain is searched.
"""

from __future__ import annotations

import httpx
import requests
import sqlalchemy.exc
from mlflow.exceptions import MlflowException

TRANSIENT = (ConnectionError, TimeoutError, requests.ConnectionError, requests.Timeout, httpx.TransportError,
             sqlalchemy.exc.OperationalError, sqlalchemy.exc.DisconnectionError)
UNAVAILABLE = (502, 503, 504)  # a proxy or server in front of MLflow that is restarting


def unreachable(exc: BaseException) -> bool:
    """True when `exc`, or an exception that caused it, says a server could not be reached."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, TRANSIENT):
            return True
        if isinstance(exc, MlflowException) and exc.get_http_status_code() in UNAVAILABLE:
            return True
        exc = exc.__cause__ or exc.__context__
    return False
