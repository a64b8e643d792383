"""The sweep's patience with a server that is restarting: a poll of the loop that fails because Prefect,
PostgreSQL (Optuna's storage) or MLflow did not answer is tried again, for up to PATIENCE_SECONDS, with
each wait logged; any other error, or an outage that outlasts the patience, ends the sweep as before.

Prefect's client retries a request itself (PREFECT_CLIENT_MAX_RETRIES, about a minute with its backoff),
and MLflow's its own; SQLAlchemy under Optuna does not, and a fresh Prefect client (run_deployment makes
one) fails at once on a refused connection. This wraps the whole poll, so whichever client gave up first,
the sweep waits as its trials do (flows/trial/retry.py: about four minutes a step).
"""

from __future__ import annotations

import time

from ..unreachable import unreachable

PATIENCE_SECONDS = 300
WAITS = (5, 10, 20, 30)  # seconds between tries; then the last, until the patience is spent


def root_cause(exc: BaseException) -> str:
    """The first line of the innermost cause: Optuna's StorageInternalError blames "invalid data" for what
    is PostgreSQL's refused connection."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


def patiently(poll, logger, patience: float = PATIENCE_SECONDS):
    """`poll()`'s result, trying it again while it fails transiently, for up to `patience` seconds."""
    deadline = time.monotonic() + patience
    tries = 0
    while True:
        try:
            return poll()
        except Exception as exc:
            left = deadline - time.monotonic()
            if not unreachable(exc) or left <= 0:
                raise
            wait = min(WAITS[min(tries, len(WAITS) - 1)], left)
            logger.warning("a server did not answer (%s); trying again in %.0fs, giving up in %.0fs",
                           root_cause(exc), wait, left)
            time.sleep(wait)
            tries += 1
