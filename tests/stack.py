"""A real local stack for end-to-end tests: Prefect server, MLflow server, workers, deployments.

`workers` trial workers on the `gpu` pool (CPU workers standing in for GPUs, `trials_per_gpu` flow runs at a
time each) and one sweep worker on the `cpu` pool.

Free ports and a temporary state directory, so it never collides with a running `make up`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

from flows.names import FLOW_RUN_HEARTBEAT_SECONDS
from flows.ops.machine import free_port
from flows.ops.stack import Stack

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


# For stacks whose tests kill a worker and wait for its flow run to be Crashed, and restart no Prefect server:
# three missed heartbeats instead of the product's five (flows/ops/deploy.py's ZOMBIE_AFTER, 150 s), which are
# there to ride out a Prefect restart (tests/test_restarts.py keeps them). A minute less for each such wait.
QUICK_ZOMBIES = 3 * FLOW_RUN_HEARTBEAT_SECONDS
_ZOMBIES = ("import sys; from datetime import timedelta; from flows.ops.deploy import crash_zombies\n"
            "crash_zombies(timedelta(seconds=int(sys.argv[1])))")


@contextmanager
def running_stack(state: Path, workers: int = 1, trials_per_gpu: int = 1, zombie_after: int | None = None,
                  **options):
    """`options`: Stack's own (mlflow_backend, credentials). `zombie_after`: the seconds without a heartbeat after
    which the zombie automation crashes a flow run (default: the product's ZOMBIE_AFTER)."""
    stack = Stack(state, prefect_port=free_port(), mlflow_port=free_port(), dashboard_port=free_port(), **options)
    # The embedded MIDI files are built once per machine; everything else is this stack's own.
    try:
        stack.up(workers, trials_per_gpu)
        subprocess.run([str(BIN / "python"), "-m", "flows.ops.deploy"], env=stack.env(), cwd=REPO, check=True,
                       capture_output=True)
        if zombie_after:  # the same automation, made again with another window
            subprocess.run([str(BIN / "python"), "-c", _ZOMBIES, str(zombie_after)], env=stack.env(), cwd=REPO,
                           check=True, capture_output=True)
        yield stack
    finally:
        stack.down()  # as `make down`: the workers at once, then the servers


# Without a terminal, rich (the prefect CLI's console) wraps lines at 80 columns; a watch line is longer.
WIDE = {"COLUMNS": "400"}


def prefect(stack: Stack, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "prefect"), *args], env=stack.env() | WIDE, cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)


def sweep_argv(**params) -> list[str]:
    argv = ["deployment", "run", "study/sweep", "--watch"]
    for key, value in params.items():
        argv += ["-p", f"{key}={value}"]
    return argv


def run_sweep(stack: Stack, timeout: float = 900, **params) -> dict:
    """`prefect deployment run study/sweep --watch` as a user runs it; returns the flow run as JSON."""
    out = prefect(stack, *sweep_argv(**params), timeout=timeout)
    run_id = next(line.split("UUID:")[1].strip() for line in out.stdout.splitlines() if "UUID:" in line)
    return flow_run(stack, run_id) | {"cli_returncode": out.returncode, "cli_output": out.stdout + out.stderr}


def start_sweep(stack: Stack, **params) -> subprocess.Popen:
    """The same, in the background, for tests that break things while it runs."""
    return subprocess.Popen([str(BIN / "prefect"), *sweep_argv(**params)], env=stack.env() | WIDE, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def pids_of_flow_run(flow_run_id: str) -> list[int]:
    """The processes running a flow run: the process worker sets PREFECT__FLOW_RUN_ID in their environment."""
    needle = f"PREFECT__FLOW_RUN_ID={flow_run_id}".encode()
    pids = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if needle in environ.read_bytes().split(b"\0"):
                pids.append(int(environ.parent.name))
        except OSError:
            continue
    return pids


def kill_all(pids: list[int], sig: int) -> None:
    """Signal each of `pids` that still exists (a machine that dies takes every process of the job)."""
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _client_json(stack: Stack, code: str, arg: str):
    """Runs a Prefect client snippet against the stack in a fresh interpreter; returns the JSON it printed last."""
    out = subprocess.run([str(BIN / "python"), "-c", code, arg], env=stack.env(), capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def trial_flow_runs(stack: Stack, study: str) -> list[dict]:
    """The trial flow runs of a study (flow `trial`, Prefect tag `study:NAME`, which its sweep carries too): id,
    state, created, start and end times, pool and the process that ran it (`infrastructure_pid`)."""
    code = ("import asyncio, json, sys\n"
            "from prefect.client.orchestration import get_client\n"
            "from prefect.client.schemas.filters import FlowFilter, FlowFilterName, FlowRunFilter, FlowRunFilterTags\n"
            "async def main(tag):\n"
            "    async with get_client() as c:\n"
            "        runs = await c.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=['trial'])),\n"
            "            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[tag])))\n"
            "        t = lambda d: d.timestamp() if d else None\n"
            "        print(json.dumps([{'id': str(r.id), 'state': r.state.name, 'run_count': r.run_count,\n"
            "                           'created': t(r.created), 'start': t(r.start_time), 'end': t(r.end_time),\n"
            "                           'pool': r.work_pool_name, 'infrastructure_pid': r.infrastructure_pid}\n"
            "                          for r in runs]))\n"
            "asyncio.run(main(sys.argv[1]))\n")
    return _client_json(stack, code, f"study:{study}")


def flow_run(stack: Stack, run_id: str) -> dict:
    code = ("import asyncio, json, sys\n"
            "from prefect.client.orchestration import get_client\n"
            "async def main(i):\n"
            "    async with get_client() as c:\n"
            "        fr = await c.read_flow_run(i)\n"
            "        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId\n"
            "        trs = await c.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[fr.id])))\n"
            "        from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId\n"
            "        logs = await c.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[fr.id])))\n"
            "        from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId\n"
            "        arts = await c.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[fr.id])))\n"
            "        print(json.dumps({'id': str(fr.id), 'state': fr.state.name, 'message': fr.state.message,\n"
            "               'artifacts': {a.key: a.data for a in arts if a.key},\n"
            "               'run_count': fr.run_count, 'logs': '\\n'.join(l.message for l in logs),\n"
            "               'task_runs': {t.name: t.state.name for t in trs}}))\n"
            "asyncio.run(main(sys.argv[1]))\n")
    return _client_json(stack, code, run_id)



def subflow_runs(stack: Stack, run_id: str) -> dict[str, str]:
    """The flow runs whose parent task run belongs to flow run `run_id` (its subflow runs): id → flow name."""
    code = ("import asyncio, json, sys\n"
            "from prefect.client.orchestration import get_client\n"
            "from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, FlowRunFilterParentTaskRunId\n"
            "async def main(i):\n"
            "    async with get_client() as c:\n"
            "        tasks = await c.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[i])))\n"
            "        runs = await c.read_flow_runs(flow_run_filter=FlowRunFilter(\n"
            "            parent_task_run_id=FlowRunFilterParentTaskRunId(any_=[t.id for t in tasks])))\n"
            "        print(json.dumps({str(r.id): (await c.read_flow(r.flow_id)).name for r in runs}))\n"
            "asyncio.run(main(sys.argv[1]))\n")
    return _client_json(stack, code, run_id)
