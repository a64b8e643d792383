"""Where a trial's time goes besides its epochs, logged to MLflow as `phase_<name>_seconds`.

Phases: `startup` (the trial process's start to its flow body: interpreter, imports, Prefect's engine),
`setup` (the study loaded, the trial asked for), `data_load`, `training` and `evaluation` (lstm.train's
own timing) and `music` (the sample, its metrics and files). A trial's fixed cost is everything but
`training` (no trial exports its model: flows/outputs.py).
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path


def process_age() -> float | None:
    """Seconds since this process started (Linux /proc; None elsewhere)."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])  # field 22: starttime
        return time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


class Phases:
    """Seconds per named phase; `with phases("export"): ...` adds to one."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        if (age := process_age()) is not None:
            self.seconds["startup"] = age

    @contextmanager
    def __call__(self, name: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - t0)

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def metrics(self) -> dict[str, float]:
        return {f"phase_{name}_seconds": s for name, s in self.seconds.items()}
