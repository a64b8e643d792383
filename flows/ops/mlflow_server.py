"""`mlflow server` as one process: `python -m flows.ops.mlflow_server ARGS` takes exactly `mlflow server`'s ARGS.

`mlflow server` parses its options, migrates the stores, then starts uvicorn as a child process and stays
beside it only to forward signals. Both processes import MLflow's server stack (pandas, pyarrow, scipy:
≈210 MB apiece at rest), so the waiting parent doubles the server's memory for nothing. Here the CLI runs
unchanged, and at the point where it would spawn uvicorn it becomes uvicorn instead (exec, same pid, same
environment and arguments), so `make up`, compose and the pid files see one process that takes the signals.
With job execution off (MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false, set by the callers) nothing else runs
after the spawn, so nothing is skipped. Tested against the pinned MLflow (3.17.x) by every stack the tests
start: if MLflow renames its spawn helper this fails loudly at start, not silently.
"""

from __future__ import annotations

import os
import secrets
import sys

import mlflow.server
from mlflow.cli import cli


def _become(cmd: list[str], *, extra_env: dict | None = None, **_ignored) -> None:
    os.execvpe(cmd[0], [str(c) for c in cmd], os.environ | (extra_env or {}))


def main() -> None:
    if not callable(getattr(mlflow.server, "_exec_cmd", None)):
        sys.exit("flows.ops.mlflow_server: this MLflow has no mlflow.server._exec_cmd; run `mlflow server` instead")
    mlflow.server._exec_cmd = _become  # the one call site: _run_server's spawn of uvicorn
    # The basic-auth app (flows/ops/credentials.py) refuses to start without a key to sign its CSRF tokens. They
    # only guard the UI's forms of this one process (one uvicorn worker, exec'd with this environment), so a key
    # of its own per start does: a restart invalidates only forms left open. A key set by the caller is kept.
    os.environ.setdefault("MLFLOW_FLASK_SERVER_SECRET_KEY", secrets.token_hex(32))
    cli(["server", *sys.argv[1:]], prog_name="mlflow")


if __name__ == "__main__":
    main()
