"""Create the two process pools and register a deployment on each: `study/sweep` on `cpu` (no limit:
sweeps only launch and watch, several may run at once), `trial/run` on `gpu` (one worker per GPU, each
started with `--limit TRIALS_PER_GPU`, default 1, so a GPU trains no more trials than were measured to fit
and a sweep never holds a GPU worker); and the
automation that marks a flow run Crashed when its heartbeats stop (a worker or machine that died).

Both deployments run this checkout's code in place (`from_source` on the project directory), so
every worker needs the project at the same path: the repository locally, /app in the docker images.
Workers emit heartbeats with PREFECT_FLOWS_HEARTBEAT_FREQUENCY (flows/ops/stack.py, docker/compose.yaml).
"""

from __future__ import annotations

import sys
from datetime import timedelta

from prefect import flow
from prefect.automations import Automation
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.objects import StateType
from prefect.events.actions import ChangeFlowRunState
from prefect.events.schemas.automations import EventTrigger, Posture
from prefect.events.schemas.events import ResourceSpecification
from prefect.exceptions import ObjectAlreadyExists
from prefect.workers.process import ProcessWorker

from ..names import (
    FLOW_RUN_HEARTBEAT_SECONDS,
    SWEEP_DEPLOYMENT,
    SWEEP_FLOW,
    SWEEP_POOL,
    TRIAL_DEPLOYMENT,
    TRIAL_FLOW,
    TRIAL_POOL,
    deployment,
)
from ..settings import REPO

# five missed beats rather than three: a restarting Prefect server (down a minute, then ~20 s to
# start) must not make live flow runs look dead; a dead worker's trial is continued a minute later for it
ZOMBIE_AFTER = timedelta(seconds=5 * FLOW_RUN_HEARTBEAT_SECONDS)
ZOMBIE_AUTOMATION = "maestro-lstm: crash flow runs whose heartbeats stopped"
DEPLOYMENTS = (("flows/sweep/flow.py:study", SWEEP_FLOW, SWEEP_DEPLOYMENT, SWEEP_POOL),
               ("flows/trial/flow.py:trial", TRIAL_FLOW, TRIAL_DEPLOYMENT, TRIAL_POOL))


def create_pools() -> None:
    """Both process pools, unless they exist (a worker may have created its pool first)."""
    with get_client(sync_client=True) as client:
        for pool in (SWEEP_POOL, TRIAL_POOL):
            try:
                client.create_work_pool(WorkPoolCreate(
                    name=pool, type="process", base_job_template=ProcessWorker.get_default_base_job_template()))
                print(f"work pool {pool} created")
            except ObjectAlreadyExists:
                pass


def deploy() -> None:
    create_pools()
    for entrypoint, flow_name, name, pool in DEPLOYMENTS:
        flow.from_source(source=str(REPO), entrypoint=entrypoint).deploy(
            name=name, work_pool_name=pool, print_next_steps=False)
        print(f"deployed {deployment(flow_name, name)} on work pool {pool}")


def crash_zombies(after: timedelta = ZOMBIE_AFTER) -> None:
    """Prefect's documented zombie detection: no heartbeat (and no final state) within `after` → Crashed.
    A trial whose run crashes is then failed in Optuna and MLflow by the sweep, which launches another."""
    try:
        Automation.read(name=ZOMBIE_AUTOMATION).delete()
    except ValueError:  # not there yet
        pass
    Automation(
        name=ZOMBIE_AUTOMATION,
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.heartbeat", "prefect.flow-run.Completed", "prefect.flow-run.Failed",
                    "prefect.flow-run.Cancelled", "prefect.flow-run.Crashed"},
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=after,
        ),
        actions=[ChangeFlowRunState(state=StateType.CRASHED,
                                    message=f"no heartbeat for {after.seconds}s: its worker or machine died")],
    ).create()
    print(f"automation: {ZOMBIE_AUTOMATION}")


if __name__ == "__main__":
    deploy()
    crash_zombies()
    sys.exit(0)
