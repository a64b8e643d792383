"""A trial's Optuna heartbeat (flows/storage.py) outlives a PostgreSQL restart: the beats that fail while the
server is down are logged and the thread beats on, so the live trial is not failed as stale once it is back.
Also tests/pg.py's restart: stop() then start() keeps the data."""

from __future__ import annotations

import logging
import time

import optuna
import pytest
from optuna.trial import TrialState

from flows.storage import heartbeat

from pg import postgres_server, require_postgres

pytestmark = pytest.mark.postgres

GRACE = 4  # seconds; the outage is longer, the wait after it shorter


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with Study.optimize")
def test_a_trials_heartbeat_survives_a_database_restart(tmp_path, caplog):
    require_postgres()
    with postgres_server(tmp_path) as pg:
        url = pg.create_database("optuna", driver="psycopg2")
        storage = optuna.storages.RDBStorage(url, heartbeat_interval=1, grace_period=GRACE,
                                             engine_kwargs={"pool_pre_ping": True})
        study = optuna.create_study(study_name="beats", storage=storage)
        live = study.ask()
        with caplog.at_level(logging.WARNING, logger="flows.storage"), heartbeat(storage, "beats", live.number):
            pg.stop()
            time.sleep(GRACE + 2)  # no beat gets through: a thread that gave up would stay silent
            pg.start()
            time.sleep(GRACE / 2)  # the thread's next beats land
            optuna.storages.fail_stale_trials(study)  # what the next trial to ask does
            assert study.get_trials(deepcopy=False)[live.number].state == TrialState.RUNNING
        assert f"trial {live.number}: heartbeat not recorded" in caplog.text
        study.tell(live, 1.0)
        assert optuna.load_study(study_name="beats", storage=url).best_value == 1.0  # the data kept
        storage.engine.dispose()
