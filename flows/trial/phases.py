"""Where a trial's time goes besides its epochs, logged to MLflow as `phase_<name>_seconds`, and the
memory it peaked at (`peak_host_memory_mb`, `peak_gpu_memory_mb`): what a worker machine must hold.

Phases: `startup` (the trial process's start to its flow body: interpreter, imports, Prefect's engine),
`setup` (the study loaded, the trial asked for), `data_fetch` (the published data set downloaded, on a
machine without the sweep's folder: flows/trial/data.py), `data_load`, `training` and `evaluation` (lstm.train's
own timing) and `music` (the sample, its metrics and files). A trial's fixed cost is everything but
`training` (no trial exports its model: flows/sweep/registry.py does, for the one it registers).
"""

from __future__ import annotations

import os
import resource
import time
from contextlib import contextmanager
from pathlib import Path

from ..names import phase_metric


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
        return {phase_metric(name): s for name, s in self.seconds.items()}


def peak_memory() -> dict[str, float]:
    """This process's peak resident memory and, on a GPU, the peak of torch's allocations there, in MB."""
    import torch

    peak = {"peak_host_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}  # Linux: KiB
    if torch.cuda.is_available():
        peak["peak_gpu_memory_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return peak
