"""Register the two deployments on the `gpu` process pool: `study/sweep` and `trial/run`.

Both run this checkout's code in place (`from_source` on the project directory), so every worker
needs the project at the same path: the repository locally, /app in the docker images.
"""

from __future__ import annotations

import sys

from prefect import flow

from .settings import REPO, WORK_POOL


def deploy() -> None:
    for entrypoint, name in (("flows/study.py:study", "sweep"), ("flows/trial.py:trial", "run")):
        flow.from_source(source=str(REPO), entrypoint=entrypoint).deploy(
            name=name, work_pool_name=WORK_POOL, print_next_steps=False)
        print(f"deployed {entrypoint.split(':')[1]}/{name} on work pool {WORK_POOL}")


if __name__ == "__main__":
    deploy()
    sys.exit(0)
