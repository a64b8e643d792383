"""The Optuna storage of a study: a journal file on one machine, PostgreSQL across machines.

SQLite is not offered: it is unsafe with parallel writers. On PostgreSQL the trial flows send
heartbeats, so a trial whose worker died is failed and re-queued by Optuna itself
(`RetryHeartbeatStaleTrialCallback`) the next time the study asks for a trial.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

import optuna
from optuna.storages import JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend

from .settings import state_dir

HEARTBEAT_SECONDS = 10
GRACE_SECONDS = 60


def storage_kind(url: str) -> str:
    if not url:
        return "journal"
    if url.startswith(("postgresql://", "postgresql+psycopg2://", "postgres://")):
        return "postgresql"
    raise ValueError(f"storage {url!r} is not supported: leave it empty (journal file) or give a postgresql:// URL")


def sqlalchemy_url(url: str) -> str:
    """Name the installed driver: SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3, not installed."""
    for bare in ("postgresql://", "postgres://"):
        if url.startswith(bare):
            return "postgresql+psycopg2://" + url[len(bare):]
    return url


def make_storage(url: str = "") -> optuna.storages.BaseStorage:
    if storage_kind(url) == "journal":
        path = state_dir() / "optuna" / "journal.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    return RDBStorage(sqlalchemy_url(url), heartbeat_interval=HEARTBEAT_SECONDS,
                      grace_period=GRACE_SECONDS,
                      heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=2),
                      engine_kwargs={"pool_pre_ping": True})


@contextmanager
def heartbeat(storage: optuna.storages.BaseStorage, trial_id: int):
    """Record a heartbeat for the trial while the block runs (RDB storages only)."""
    interval = storage.get_heartbeat_interval() if isinstance(storage, RDBStorage) else None
    if not interval:
        yield
        return
    stop = threading.Event()

    def beat():
        while not stop.is_set():
            storage.record_heartbeat(trial_id)
            stop.wait(interval)

    thread = threading.Thread(target=beat, daemon=True, name=f"optuna-heartbeat-{trial_id}")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
