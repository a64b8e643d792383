"""Register the two deployments on the `gpu` process pool, `study/sweep` and `trial/run`, and the
automation that marks a flow run Crashed when its heartbeats stop (a worker or machine that died).

Both deployments run this checkout's code in place (`from_source` on the project directory), so
every worker needs the project at the same path: the repository locally, /app in the docker images.
Workers emit heartbeats with PREFECT_FLOWS_HEARTBEAT_FREQUENCY (flows/stack.py, docker/compose.yaml).
"""

from __future__ import annotations

import sys
from datetime import timedelta

from prefect import flow
from prefect.automations import Automation
from prefect.client.schemas.objects import StateType
from prefect.events.actions import ChangeFlowRunState
from prefect.events.schemas.automations import EventTrigger, Posture
from prefect.events.schemas.events import ResourceSpecification

from .settings import REPO, WORK_POOL

HEARTBEAT_SECONDS = 30  # Prefect's minimum
ZOMBIE_AFTER = timedelta(seconds=3 * HEARTBEAT_SECONDS)
ZOMBIE_AUTOMATION = "maestro-lstm: crash flow runs whose heartbeats stopped"


def deploy() -> None:
    for entrypoint, name in (("flows/study.py:study", "sweep"), ("flows/trial.py:trial", "run")):
        flow.from_source(source=str(REPO), entrypoint=entrypoint).deploy(
            name=name, work_pool_name=WORK_POOL, print_next_steps=False)
        print(f"deployed {entrypoint.split(':')[1]}/{name} on work pool {WORK_POOL}")


def crash_zombies() -> None:
    """Prefect's documented zombie detection: no heartbeat (and no final state) within ZOMBIE_AFTER → Crashed.
    A trial whose run crashes is then failed in Optuna and MLflow by the sweep, which asks for another."""
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
            within=ZOMBIE_AFTER,
        ),
        actions=[ChangeFlowRunState(state=StateType.CRASHED,
                                    message=f"no heartbeat for {ZOMBIE_AFTER.seconds}s: its worker or machine died")],
    ).create()
    print(f"automation: {ZOMBIE_AUTOMATION}")


if __name__ == "__main__":
    deploy()
    crash_zombies()
    sys.exit(0)
