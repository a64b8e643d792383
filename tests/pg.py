"""A throwaway PostgreSQL server for tests.

    from pg import postgres_server, require_postgres    # tests/ is on sys.path under pytest

    with postgres_server() as pg:                        # or postgres_server(tmp_path)
        pg.url                                           # postgresql://pgtest:PW@127.0.0.1:PORT/postgres
        url = pg.create_database("optuna")               # same server, database "optuna"
        pg.create_database("mlflow", driver="psycopg2")  # -> postgresql+psycopg2://...:PORT/mlflow
        pg.url_for("prefect", driver="asyncpg")          # postgresql+asyncpg://...:PORT/prefect
        pg.sqlalchemy_url                                # postgresql+psycopg2://...:PORT/postgres

SQLAlchemy 2.1 (installed here) maps a bare ``postgresql://`` URL to the psycopg 3 driver, which is not a
dependency: give SQLAlchemy users (Optuna's RDBStorage, MLflow's backend store) ``driver="psycopg2"`` URLs.

The server runs initdb into a fresh directory, listens on 127.0.0.1 only (a free port) with its unix socket in
that directory, runs with fsync off, and is always stopped (``pg_ctl stop -m fast``, then SIGKILL as a last resort)
and its directory removed when the ``with`` block exits, errors included.

PostgreSQL refuses to run as root: as root, the server runs as an unprivileged system user (``pgtest``, created
with ``useradd --system`` if missing) and its directory is owned by that user and made under a path every user can
traverse (``/tmp`` when ``tmp_dir`` is not).

Why not pytest-postgresql (judged 2026-11 on its 10.0.0, with Debian's PostgreSQL 15 here): its
``postgresql_proc`` runs ``pg_ctl initdb`` / ``pg_ctl start`` as the current user, with no option to run as
another one (its issues #341 and #455 asked; both closed without one), so as root, which is how our tests and
CI run, it stops at "pg_ctl: cannot be run as root" (tried). Making it work would need a wrapper executable
that drops to a system user, that user, and a data directory outside pytest's 0700 tmp: the part of this
module that is not generic. It would also bring psycopg 3, mirakuru and port-for for what is left (initdb,
start, stop, a free port). So this module stays.

Binaries are found through ``$PG_BINDIR``, ``pg_config --bindir``, ``/usr/lib/postgresql/*/bin`` (newest first),
then ``PATH``; with none, :class:`PostgresNotFound` is raised. ``require_postgres()`` turns that into
``pytest.skip`` on a developer's machine and ``pytest.fail`` in CI (``CI=true``), where the server must be there.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

PG_USER = "pgtest"  # the OS user the server runs as when we are root; also the database superuser's name
_NEEDED = ("initdb", "pg_ctl", "postgres")
SYSTEM_PG_ROOT = Path("/usr/lib/postgresql")  # Debian/Ubuntu: /usr/lib/postgresql/<major>/bin
_DB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class PostgresNotFound(RuntimeError):
    """No PostgreSQL server binaries (initdb, pg_ctl, postgres) on this machine."""


class PostgresStartError(RuntimeError):
    """initdb or the server failed; the message carries the tail of its log."""


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _complete(d: Path) -> bool:
    return all(os.access(d / name, os.X_OK) for name in _NEEDED)


def find_bindir() -> Path:
    """The directory holding initdb, pg_ctl and postgres, or PostgresNotFound saying where it looked."""
    tried: list[str] = []
    candidates: list[Path] = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(Path(os.environ["PG_BINDIR"]))
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10)
            if out.returncode == 0 and out.stdout.strip():
                candidates.append(Path(out.stdout.strip()))

    def version(p: Path) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", p.parent.name)) or (0,)

    candidates += sorted(SYSTEM_PG_ROOT.glob("*/bin"), key=version, reverse=True)
    on_path = [shutil.which(name) for name in _NEEDED]
    if all(on_path):
        candidates.append(Path(on_path[0]).resolve().parent)
    for d in candidates:
        if _complete(d):
            return d
        tried.append(str(d))
    raise PostgresNotFound(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found "
        f"(looked in $PG_BINDIR, pg_config --bindir, /usr/lib/postgresql/*/bin, PATH{': ' if tried else ''}"
        f"{', '.join(tried)}); install them with `bash .ci/install-system-deps.sh` (apt: postgresql-15)"
    )


def require_postgres() -> Path:
    """find_bindir() for tests: skip when PostgreSQL is missing on a developer's machine, fail in CI."""
    import pytest

    try:
        return find_bindir()
    except PostgresNotFound as e:
        if in_ci():
            pytest.fail(f"CI=true but {e}", pytrace=False)
        pytest.skip(str(e))


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def _ensure_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    nologin = next((s for s in ("/usr/sbin/nologin", "/sbin/nologin", "/bin/false") if os.path.exists(s)), "/bin/false")
    proc = subprocess.run([useradd, "--system", "--no-create-home", "--home-dir", "/nonexistent",
                           "--shell", nologin, name], capture_output=True, text=True)
    try:  # a concurrent test process may have created it first: only the user's existence matters
        return pwd.getpwnam(name)
    except KeyError:
        raise PostgresStartError(f"cannot create system user {name!r} to run PostgreSQL as (root is refused): "
                                 f"{(proc.stderr or proc.stdout).strip()}") from None


def _traversable_by_others(path: Path) -> bool:
    """True when a user who is neither owner nor group can reach ``path`` (o+x on it and on every parent)."""
    p = path.resolve()
    for d in [p, *p.parents]:
        try:
            if not os.stat(d).st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
    return True


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class PostgresServer:
    """A running server; see the module docstring. Stopped by the ``postgres_server`` context manager."""

    bindir: Path
    root: Path  # the temporary directory: data/, sock/, server.log
    port: int
    user: str
    password: str
    host: str = "127.0.0.1"
    dbname: str = "postgres"
    run_as: pwd.struct_passwd | None = None  # the OS user the server runs as, when we are root
    _stopped: bool = field(default=False, repr=False)

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "sock"

    @property
    def logfile(self) -> Path:
        return self.root / "server.log"

    @property
    def url(self) -> str:
        """``postgresql://USER:PW@127.0.0.1:PORT/postgres`` (psycopg2, SQLAlchemy, Optuna, MLflow)."""
        return self.url_for(self.dbname)

    @property
    def sqlalchemy_url(self) -> str:
        """``postgresql+psycopg2://...``: SQLAlchemy 2.1 maps a bare ``postgresql://`` to psycopg 3, not psycopg2."""
        return self.url_for(self.dbname, driver="psycopg2")

    def url_for(self, dbname: str, driver: str | None = None) -> str:
        """The URL of database ``dbname`` on this server; ``driver='asyncpg'`` gives ``postgresql+asyncpg://``."""
        scheme = f"postgresql+{driver}" if driver else "postgresql"
        return f"{scheme}://{self.user}:{self.password}@{self.host}:{self.port}/{dbname}"

    def create_database(self, name: str, driver: str | None = None) -> str:
        """Create database ``name`` (a plain identifier); return ``url_for(name, driver)``."""
        if not _DB_NAME.match(name):
            raise ValueError(f"database name must be a plain identifier, got {name!r}")
        try:
            import psycopg2
        except ImportError:
            env = {**os.environ, "PGPASSWORD": self.password}
            out = subprocess.run([str(self.bindir / "createdb"), "-h", self.host, "-p", str(self.port),
                                  "-U", self.user, name], capture_output=True, text=True, env=env)
            if out.returncode != 0:
                raise RuntimeError(f"createdb {name} failed: {out.stderr.strip()}") from None
        else:
            conn = psycopg2.connect(self.url)
            try:
                conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute(f'CREATE DATABASE "{name}"')
            finally:
                conn.close()
        return self.url_for(name, driver)

    # -- process control ------------------------------------------------------------------------------------
    def _run(self, args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
        kwargs: dict = {}
        if self.run_as is not None:
            # Same effect as `runuser -u pgtest --`, without needing util-linux: drop to the user in the child.
            kwargs = {"user": self.run_as.pw_uid, "group": self.run_as.pw_gid, "extra_groups": []}
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C", TZ="UTC")
        return subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=self.root, env=env,
                              stdin=subprocess.DEVNULL, **kwargs)

    def _initdb(self) -> None:
        self.socket_dir.mkdir(mode=0o700)
        self._chown(self.socket_dir)
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        self._chown(pwfile)
        try:
            out = self._run([str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", self.user,
                             f"--pwfile={pwfile}", "--auth-local=trust", "--auth-host=scram-sha-256",
                             "--encoding=UTF8", "--no-locale", "--no-sync"])
        finally:
            pwfile.unlink(missing_ok=True)
        if out.returncode != 0:
            raise PostgresStartError(f"initdb failed (exit {out.returncode}): {(out.stderr or out.stdout).strip()}")
        with open(self.datadir / "postgresql.conf", "a") as f:
            f.write(
                "\n# tests/pg.py: a throwaway server\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.socket_dir}'\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                "max_connections = 200\nshared_buffers = 32MB\n"
                "logging_collector = off\n"
            )

    def _start(self) -> None:
        out = self._run([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.logfile),
                         "-w", "-t", "60", "-o", f"-p {self.port}", "start"], timeout=90)
        if out.returncode != 0:
            raise PostgresStartError(f"pg_ctl start failed on port {self.port} (exit {out.returncode}): "
                                     f"{(out.stderr or out.stdout).strip()}\n--- server.log ---\n{_tail(self.logfile)}")
        self._stopped = False

    def start(self) -> None:
        """Start the server again after ``stop()``, on its port and with its data (a restart's second half)."""
        if self._stopped:
            self._start()

    def stop(self) -> None:
        """Stop the server (fast shutdown), killing the postmaster if pg_ctl cannot; idempotent."""
        if self._stopped:
            return
        if (self.datadir / "postmaster.pid").exists():
            try:
                out = self._run([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w",
                                 "-t", "30", "stop"], timeout=60)
                ok = out.returncode == 0
            except subprocess.TimeoutExpired:
                ok = False
            if not ok and self._running():
                self._kill_postmaster()
        self._stopped = True

    def _running(self) -> bool:
        try:  # pg_ctl status: 0 running, 3 not running, 4 no data directory
            return self._run([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "status"], timeout=30).returncode == 0
        except subprocess.TimeoutExpired:
            return True

    def _kill_postmaster(self) -> None:
        try:
            pid = int((self.datadir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        for sig, wait in ((signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    return
                time.sleep(0.05)

    def _chown(self, path: Path) -> None:
        if self.run_as is not None:
            os.chown(path, self.run_as.pw_uid, self.run_as.pw_gid)


def _make_root(tmp_dir: str | os.PathLike | None, shared: bool) -> Path:
    parent: Path | None = Path(tmp_dir) if tmp_dir is not None else None
    if parent is not None and shared and not _traversable_by_others(parent):
        parent = None  # e.g. pytest's /tmp/pytest-of-root/... is 0700: the server user could not reach it
    if parent is None:
        parent = Path("/tmp") if Path("/tmp").is_dir() else Path(tempfile.gettempdir())
    parent.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="pgtest-", dir=parent))
    os.chmod(root, 0o755)
    return root


@contextlib.contextmanager
def postgres_server(tmp_dir: str | os.PathLike | None = None, *, dbname: str = "postgres",
                    user: str = PG_USER) -> Iterator[PostgresServer]:
    """Start a throwaway PostgreSQL server on 127.0.0.1; yield a :class:`PostgresServer`; always stop it.

    ``tmp_dir``: where to make the server's directory (a new ``pgtest-*`` directory inside it, removed on exit);
    as root it must be traversable by the server user, else ``/tmp`` is used instead.
    Raises :class:`PostgresNotFound` without binaries, :class:`PostgresStartError` when the server fails.
    """
    bindir = find_bindir()
    run_as = _ensure_user(PG_USER) if os.geteuid() == 0 else None
    root = _make_root(tmp_dir, shared=run_as is not None)
    server = PostgresServer(bindir=bindir, root=root, port=0, user=user, password=secrets.token_hex(12),
                            dbname=dbname, run_as=run_as, _stopped=True)
    try:
        server._chown(root)
        server._initdb()
        for attempt in range(5):  # the free port may be taken between our probe and the server's bind
            server.port = free_port()
            try:
                server._start()
                break
            except PostgresStartError:
                if attempt == 4 or "already in use" not in _tail(server.logfile, 50):
                    raise
                server._stopped = True
        yield server
    finally:
        try:
            server.stop()
        finally:
            shutil.rmtree(root, ignore_errors=True)
