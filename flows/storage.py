"""The Optuna storage of a study: a journal file on one machine, PostgreSQL across machines.

SQLite is not offered: it is unsafe with parallel writers. On PostgreSQL the trial flows send
heartbeats, so a trial whose worker died is failed by Optuna itself when `fail_stale_trials` runs, and
continued by its stale-trial callback (flows/requeue.py): the next trial flow to ask gets it and goes on
from its checkpoint.
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager

import optuna
from optuna.exceptions import StorageInternalError, UpdateFinishedTrialError
from optuna.storages import JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from .names import FAIL_REASON, TRIAL_GRACE_SECONDS, TRIAL_HEARTBEAT_SECONDS
from .settings import state_dir

log = logging.getLogger(__name__)
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)  # what counts towards a study's n_trials


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
    from .requeue import Requeue  # it builds on this module's fail_trial

    return RDBStorage(sqlalchemy_url(url), heartbeat_interval=TRIAL_HEARTBEAT_SECONDS,
                      grace_period=TRIAL_GRACE_SECONDS,
                      heartbeat_stale_trial_callback=Requeue(),
                      engine_kwargs={"pool_pre_ping": True})


def trial_id(storage: optuna.storages.BaseStorage, study_name: str, number: int) -> int:
    """The storage's id of a trial, through the storage's public interface (Trial objects keep it private)."""
    return storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name(study_name), number)


def finished(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=FINISHED))


def best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    """The completed trial with the highest value (Optuna's own choice, ties to the earlier), or None."""
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return None
    return study.best_trial


def fail_trial(study: optuna.Study, storage: optuna.storages.BaseStorage, number: int, reason: str) -> bool:
    """Fail a RUNNING trial with its reason (user attr FAIL_REASON); False if it finished meanwhile."""
    try:
        storage.set_trial_user_attr(trial_id(storage, study.study_name, number), FAIL_REASON, reason[:1000])
        study.tell(number, state=TrialState.FAIL)
    except UpdateFinishedTrialError:  # it told Optuna itself between our look and our tell
        return False
    return True


@contextmanager
def heartbeat(storage: optuna.storages.BaseStorage, study_name: str, number: int):
    """Record a heartbeat for the trial while the block runs (RDB storages with `heartbeat_interval` only).

    `study.optimize` runs such a thread itself; an ask-and-tell trial has to. A trial whose heartbeats stop
    for TRIAL_GRACE_SECONDS is failed by `optuna.storages.fail_stale_trials`, which the sweep calls. A beat
    that fails (the database restarting) is logged and the thread beats on: a dead thread would make a live
    trial look lost once the database is back."""
    interval = storage.get_heartbeat_interval() if isinstance(storage, RDBStorage) else None
    if not interval:
        yield
        return
    import sqlalchemy.exc  # here, not at the top: only an RDB storage beats, and it has SQLAlchemy loaded

    tid = trial_id(storage, study_name, number)
    stop = threading.Event()

    def beat():
        while not stop.is_set():
            try:
                storage.record_heartbeat(tid)
            except (StorageInternalError, sqlalchemy.exc.SQLAlchemyError) as exc:  # PostgreSQL restarting: beat on
                cause = exc.__cause__ or exc
                log.warning("trial %d: heartbeat not recorded (%s); trying again in %ss", number,
                            str(cause).splitlines()[0][:200], interval)
            stop.wait(interval)

    thread = threading.Thread(target=beat, daemon=True, name=f"optuna-heartbeat-{number}")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
