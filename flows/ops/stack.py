"""The local stack, for real: a Prefect server, an MLflow server, optuna-dashboard and Prefect process workers.

One worker on the `cpu` pool runs sweeps (no limit); one worker on the `gpu` pool per visible GPU runs
trials, each with its own CUDA_VISIBLE_DEVICES (one trial worker on the CPU where there is no GPU) and
`--limit TRIALS_PER_GPU` (default 1): Prefect's own concurrency limit is what packs trials onto a GPU, and
`n_parallel` beyond the workers' limits queues. How to pick it: docs/stack.md. optuna-dashboard
(flows/ops/dashboard.py) serves the Optuna journal the sweeps write. The servers require credentials when
the clients' variables for them are set (flows/ops/credentials.py).

`python -m flows.ops.stack up|down|status` is what `make up` / `make down` run; the test fixtures use the
same `Stack` on free ports with state in a temporary directory. `down` stops only what `up` started,
by the pid files it wrote, never by process name.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ..names import (
    FLOW_RUN_HEARTBEAT_SECONDS,
    PREFECT_CLIENT_RETRIES,
    SWEEP_POOL,
    TRIAL_POOL,
    TRIALS_PER_GPU_ENV,
    WORKER_ENV,
)
from ..settings import state_dir
from .credentials import Credentials
from .machine import visible_gpus, wait_http

BIN = Path(sys.executable).parent


@dataclass
class Stack:
    state: Path
    prefect_port: int = 4200
    mlflow_port: int = 5000
    dashboard_port: int = 8080
    host: str = "127.0.0.1"
    mlflow_backend: str = ""  # default: SQLite under the state directory
    credentials: Credentials = field(default_factory=Credentials)  # default: none (flows/ops/credentials.py)

    @property
    def prefect_api(self) -> str:
        return f"http://{self.host}:{self.prefect_port}/api"

    @property
    def mlflow_uri(self) -> str:
        return f"http://{self.host}:{self.mlflow_port}"

    @property
    def dashboard_uri(self) -> str:
        return f"http://{self.host}:{self.dashboard_port}"

    def env(self) -> dict:
        """What every process of the stack, and every client of it, needs in its environment."""
        env = dict(os.environ)
        env.update({
            "PREFECT_API_URL": self.prefect_api,
            "PREFECT_HOME": str(self.state / "prefect"),
            "PREFECT_LOCAL_STORAGE_PATH": str(self.state / "prefect" / "results"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_WORKER_QUERY_SECONDS": env.get("PREFECT_WORKER_QUERY_SECONDS", "2"),
            "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(FLOW_RUN_HEARTBEAT_SECONDS),  # for flows/ops/deploy.py's automation
            "PREFECT_CLIENT_MAX_RETRIES": str(PREFECT_CLIENT_RETRIES),  # a restarting server is waited for
            "MLFLOW_TRACKING_URI": self.mlflow_uri,
            "OPTUNA_DASHBOARD_URL": self.dashboard_uri,
            "MAESTRO_LSTM_HOME": str(self.state),
            "PYTHONUNBUFFERED": "1",
        })
        return env | self.credentials.client_env()

    # -- processes -----------------------------------------------------------------------------
    def _spawn(self, name: str, argv: list[str], env: dict | None = None) -> int:
        logs = self.state / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        pids = self.state / "pids"
        pids.mkdir(parents=True, exist_ok=True)
        with open(logs / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env or self.env(),
                                    start_new_session=True)  # its own process group: stop takes its children
        (pids / f"{name}.pid").write_text(str(proc.pid))
        return proc.pid

    def start_prefect(self) -> None:
        env = self.env()
        env.pop("PREFECT_API_URL")  # the server itself needs none
        env |= self.credentials.prefect_server_env()
        self._spawn("prefect-server", [str(BIN / "prefect"), "server", "start", "--host", self.host,
                                       "--port", str(self.prefect_port), "--analytics-off"], env)

    def start_mlflow(self) -> None:
        (self.state / "mlflow").mkdir(parents=True, exist_ok=True)
        backend = self.mlflow_backend or f"sqlite:///{self.state / 'mlflow' / 'mlflow.db'}"
        auth_args, auth_env = self.credentials.mlflow_server(self.state / "mlflow")
        # flows.ops.mlflow_server: `mlflow server` without its waiting parent process (half the memory)
        self._spawn("mlflow-server", [str(BIN / "python"), "-m", "flows.ops.mlflow_server",
                                      "--backend-store-uri", backend,
                                      "--artifacts-destination", str(self.state / "mlflow" / "artifacts"),
                                      "--serve-artifacts", "--host", self.host, "--port", str(self.mlflow_port),
                                      "--workers", "1", *auth_args],
                    # no job runner and job consumers (≈1.4 GB at rest) for MLflow features this project never uses
                    self.env() | {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"} | auth_env)

    def start_dashboard(self) -> None:
        self._spawn("optuna-dashboard", [str(BIN / "python"), "-m", "flows.ops.dashboard", "--host", self.host,
                                         "--port", str(self.dashboard_port)])

    def start_worker(self, name: str = "worker-0", gpu: str | None = None, limit: int = 1) -> int:
        """A trial worker: `limit` flow runs at a time, on GPU `gpu` (None: the CPU, or whatever
        CUDA_VISIBLE_DEVICES already says). Its flow runs inherit MAESTRO_WORKER, which trials record in MLflow."""
        env = self.env() | {WORKER_ENV: name}
        if gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = gpu
        # flows.ops.worker: `prefect worker start` that passes a SIGTERM on to its trials first
        return self._spawn(name, [str(BIN / "python"), "-m", "flows.ops.worker", "--pool", TRIAL_POOL, "--type",
                                  "process", "--name", name, "--limit", str(limit)], env)

    def start_sweep_worker(self, name: str = "sweep-worker") -> int:
        """The sweeps' worker: no limit (a sweep only launches and watches), no GPU."""
        env = self.env() | {WORKER_ENV: name, "CUDA_VISIBLE_DEVICES": ""}
        return self._spawn(name, [str(BIN / "prefect"), "worker", "start", "--pool", SWEEP_POOL, "--type",
                                  "process", "--name", name], env)

    def wait_ready(self, timeout: float = 120) -> None:
        for name, url in (("prefect-server", f"{self.prefect_api}/health"), ("mlflow-server", f"{self.mlflow_uri}/health"),
                          ("optuna-dashboard", f"{self.dashboard_uri}/api/meta")):
            pid = int((self.state / "pids" / f"{name}.pid").read_text())
            wait_http(url, timeout, self.state / "logs" / f"{name}.log", pid)

    def create_pools(self) -> None:
        """flows/ops/deploy.py's create_pools, against this stack's server."""
        subprocess.run([str(BIN / "python"), "-c", "from flows.ops.deploy import create_pools; create_pools()"],
                       env=self.env(), check=True, capture_output=True)

    def up(self, workers: int | None = None, trials_per_gpu: int = 1) -> None:
        """The servers, the sweep worker and `workers` trial workers (default: one per visible GPU, at least one),
        each taking up to `trials_per_gpu` trials at once."""
        self.start_prefect()
        self.start_mlflow()
        self.start_dashboard()
        self.wait_ready()
        self.create_pools()
        gpus = visible_gpus()
        for i in range(workers or max(len(gpus), 1)):
            self.start_worker(f"worker-{i}", gpus[i] if i < len(gpus) else None, trials_per_gpu)
        self.start_sweep_worker()

    def stop(self, name: str, sig: int = signal.SIGTERM) -> None:
        pid_file = self.state / "pids" / f"{name}.pid"
        if not pid_file.is_file():
            return
        pid = int(pid_file.read_text())
        try:
            os.killpg(pid, sig)
            for _ in range(100):
                if gone(pid):
                    break
                time.sleep(0.1)
            else:
                os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        pid_file.unlink(missing_ok=True)

    def running(self) -> dict[str, int]:
        out = {}
        for pid_file in sorted((self.state / "pids").glob("*.pid")):
            pid = int(pid_file.read_text())
            if not gone(pid):
                out[pid_file.stem] = pid
        return out

    def down(self) -> None:
        """The workers all at once (each may take its 10 s to stop), then the servers they talk to."""
        pids = self.state / "pids"
        workers = sorted(p.stem for p in pids.glob("*.pid") if not p.stem.endswith("-server"))
        with ThreadPoolExecutor(max(len(workers), 1)) as pool:
            list(pool.map(self.stop, workers))
        for name in ("mlflow-server", "prefect-server"):
            self.stop(name)


def gone(pid: int) -> bool:
    """Whether the process and the rest of the group it leads have exited (a worker's trial saves its checkpoint
    on SIGTERM). One this process started (the tests' stacks) stays a zombie, which still counts, until it is
    reaped: reap it here, or every stop waits its whole 10 s."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # not our child: its parent (or init) reaps it
        pass
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return True
    return False


def positive_int(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"trials per GPU must be a whole number of at least 1, not {text!r}")
    return int(text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m flows.ops.stack", description=__doc__.splitlines()[0])
    p.add_argument("action", choices=["up", "down", "status", "env"])
    p.add_argument("--workers", type=int, default=None,
                   help="trial workers (default: one per visible GPU, one on the CPU where there is none)")
    # a string default goes through `type` too: a bad $TRIALS_PER_GPU is refused in argparse's one line
    p.add_argument("--trials-per-gpu", type=positive_int, default=os.environ.get(TRIALS_PER_GPU_ENV, "1"),
                   help=f"trials a trial worker runs at once (default: ${TRIALS_PER_GPU_ENV}, else 1)")
    args = p.parse_args(argv)
    try:
        credentials = Credentials.from_env()
    except ValueError as e:
        p.error(str(e))
    stack = Stack(state_dir(), credentials=credentials)
    if args.action == "up":
        if stack.running():
            print(f"already running: {stack.running()} (make down first)")
            return 0
        stack.up(args.workers, args.trials_per_gpu)
        print(f"Prefect UI  http://{stack.host}:{stack.prefect_port}\nMLflow UI   {stack.mlflow_uri}\n"
              f"Optuna      {stack.dashboard_uri}\nlogs        {stack.state / 'logs'}")
    elif args.action == "down":
        stack.down()
    elif args.action == "status":
        print(stack.running() or "nothing running")
    else:  # env: for `eval $(python -m flows.ops.stack env)`
        for key in ("PREFECT_API_URL", "MLFLOW_TRACKING_URI", "OPTUNA_DASHBOARD_URL", "MAESTRO_LSTM_HOME",
                    "PREFECT_LOCAL_STORAGE_PATH"):
            print(f"export {key}={stack.env()[key]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
