"""tests/pg.py: a real throwaway PostgreSQL server, psycopg2 round trip, Optuna RDB storage with heartbeats."""

from __future__ import annotations

import os
import stat
import time

import pytest

from pg import PostgresNotFound, find_bindir, port_open, postgres_server, require_postgres

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pg(tmp_path_factory):
    require_postgres()
    # pytest's tmp dirs may be 0700 under /tmp/pytest-of-root: as root, the helper falls back to /tmp itself.
    with postgres_server(tmp_path_factory.mktemp("pg")) as server:
        yield server
    assert not port_open(server.port), "the server must be stopped when the context manager exits"
    assert not server.root.exists(), "the server's directory must be removed"


def test_url_shape_and_loopback(pg):
    assert pg.url == f"postgresql://{pg.user}:{pg.password}@127.0.0.1:{pg.port}/postgres"
    assert pg.url_for("prefect", driver="asyncpg").startswith("postgresql+asyncpg://")
    assert port_open(pg.port)
    # the unix socket lives in the server's own directory, not /var/run/postgresql
    assert any(p.name.startswith(".s.PGSQL.") for p in pg.socket_dir.iterdir())
    if os.geteuid() == 0:
        assert pg.run_as is not None and pg.root.stat().st_uid == pg.run_as.pw_uid
        assert pg.root.stat().st_mode & stat.S_IXOTH


def test_psycopg2_round_trip(pg):
    import psycopg2

    url = pg.create_database("harness")
    assert url.endswith("/harness")
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL)")
            cur.executemany("INSERT INTO notes (body) VALUES (%s)", [("do",), ("re",), ("mi",)])
        with conn.cursor() as cur:
            cur.execute("SELECT body FROM notes ORDER BY id")
            assert [r[0] for r in cur.fetchall()] == ["do", "re", "mi"]
            cur.execute("SHOW fsync")
            assert cur.fetchone()[0] == "off"
            cur.execute("SELECT current_database()")
            assert cur.fetchone()[0] == "harness"
    finally:
        conn.close()


def test_create_database_rejects_odd_names(pg):
    with pytest.raises(ValueError):
        pg.create_database('x"; DROP DATABASE postgres; --')


def test_wrong_password_is_refused(pg):
    import psycopg2

    bad = pg.url.replace(f":{pg.password}@", ":wrong@")
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(bad).close()


def test_bare_postgresql_url_needs_an_explicit_driver_for_sqlalchemy(pg):
    """SQLAlchemy 2.1 maps postgresql:// to psycopg 3; the project ships psycopg2, so URLs name it."""
    sqlalchemy = pytest.importorskip("sqlalchemy")
    engine = sqlalchemy.create_engine(pg.sqlalchemy_url)
    try:
        assert engine.dialect.driver == "psycopg2"
        with engine.connect() as conn:
            assert conn.execute(sqlalchemy.text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with Study.optimize")
def test_optuna_rdb_storage_with_heartbeat(pg):
    optuna = pytest.importorskip("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    url = pg.create_database("optuna_harness", driver="psycopg2")
    storage = optuna.storages.RDBStorage(
        url,
        heartbeat_interval=1,
        grace_period=2,
        heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1),
    )
    try:
        assert storage.get_heartbeat_interval() == 1
        study = optuna.create_study(storage=storage, study_name="harness", direction="minimize")
        study.optimize(lambda t: (t.suggest_float("x", -1.0, 1.0)) ** 2, n_trials=3)

        # a fresh storage object (as another worker would have) sees the same study and trials
        again = optuna.load_study(study_name="harness", storage=optuna.storages.RDBStorage(url))
        trials = again.get_trials(deepcopy=False)
        assert len(trials) == 3
        assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
        assert again.best_value == min(t.value for t in trials)

        # a trial whose worker died: one heartbeat, then silence past the grace period -> failed and re-queued
        dead = study.ask()
        storage.record_heartbeat(storage.get_trial_id_from_study_id_trial_number(
            storage.get_study_id_from_name("harness"), dead.number))
        time.sleep(2.5)
        deadline = time.monotonic() + 15
        while study.get_trials(deepcopy=False)[dead.number].state == optuna.trial.TrialState.RUNNING:
            assert time.monotonic() < deadline, "the stale trial was never failed"
            optuna.storages.fail_stale_trials(study)
            time.sleep(0.5)
        states = [t.state for t in study.get_trials(deepcopy=False)]
        assert study.get_trials(deepcopy=False)[dead.number].state == optuna.trial.TrialState.FAIL
        assert states.count(optuna.trial.TrialState.WAITING) == 1, states  # the retry of the dead trial
    finally:
        storage.remove_session()
        storage.engine.dispose()


def test_server_stops_on_error(tmp_path):
    require_postgres()
    port = None
    with pytest.raises(RuntimeError, match="boom"), postgres_server(tmp_path) as server:
        port = server.port
        assert port_open(port)
        raise RuntimeError("boom")
    assert port is not None and not port_open(port)
    assert not server.root.exists()


def test_missing_binaries_raise_a_clear_error(monkeypatch, tmp_path):
    import pg as pgmod

    monkeypatch.setenv("PG_BINDIR", str(tmp_path))  # a directory without the binaries
    monkeypatch.setattr(pgmod.shutil, "which", lambda name: None)  # no pg_config, nothing on PATH
    monkeypatch.setattr(pgmod, "SYSTEM_PG_ROOT", tmp_path / "none")
    with pytest.raises(PostgresNotFound, match=r"initdb, pg_ctl, postgres.*install-system-deps"):
        find_bindir()


def test_require_postgres_skips_locally_and_fails_in_ci(monkeypatch, tmp_path):
    import pg as pgmod

    def missing():
        raise PostgresNotFound("no postgres here")

    monkeypatch.setattr(pgmod, "find_bindir", missing)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no postgres here"):
        pgmod.require_postgres()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        pgmod.require_postgres()
