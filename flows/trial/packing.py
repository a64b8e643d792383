"""A CUDA out-of-memory error while other trials share the GPU (TRIALS_PER_GPU > 1, docs/stack.md) says that
the GPU was full, not that the trial's configuration is too big: such an attempt is lost, not failed. The
study continues it later from its last checkpoint (flows/requeue.py), up to its max_restarts, like an
attempt whose machine was preempted. An out-of-memory error of a trial alone on its GPU still fails the
trial at once: it would fail the same way again.

Who held the memory is read from the device when the error is caught (cudaMemGetInfo): what is in use on
the GPU, less what this process's allocator reserves, less this process's own CUDA context. The process
list of NVML would name the processes, but it is empty inside most containers; the free memory is not.
"""

from __future__ import annotations

import optuna
import torch

from .. import tracking
from ..names import OPTUNA_STATE, STOPPED
from ..requeue import lose
from .retry import server_step

CONTEXT_BYTES = 1 << 30  # this process's CUDA context and libraries, outside torch's allocator (~0.3–0.6 GB)
PACKED = "packed"  # the STOPPED tag of an attempt lost to a shared GPU


class Lost(Exception):
    """The attempt ended as a loss; the study continues the trial (its flow run fails with this reason)."""


def others_bytes() -> tuple[int, int] | None:
    """(bytes other processes hold on this process's GPU, the GPU's bytes), or None without CUDA."""
    if not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return None
    free, total = torch.cuda.mem_get_info()
    return max(0, total - free - torch.cuda.memory_reserved() - CONTEXT_BYTES), total


def verdict(exc: BaseException, held: tuple[int, int] | None = None) -> tuple[bool, str] | None:
    """None where `exc` is no CUDA out-of-memory error; else (lost, reason): lost when other processes held
    more of the GPU than a CUDA context, a failure of the trial ("too big") when none did.
    held: (bytes others hold, the GPU's bytes), read from the device (others_bytes) when not given."""
    if not isinstance(exc, torch.OutOfMemoryError):
        return None
    others, total = held if held is not None else (others_bytes() or (0, 0))
    if others > 0:
        return True, (f"CUDA out of memory while other processes held {others / 2**30:.1f} GiB of the GPU's "
                      f"{total / 2**30:.1f} GiB (trials sharing it): continued later from its checkpoint")
    return False, f"too big for its GPU (out of memory with no other process on it): {type(exc).__name__}: {exc}"


@server_step
def end_packed(study: optuna.Study, storage, live: optuna.Trial, run_id: str, reason: str) -> str:
    """The attempt's run ends KILLED, tagged `stopped: packed`, and the trial continues as a new one."""
    tracking.set_tags(run_id, {STOPPED: PACKED, OPTUNA_STATE: "FAIL"})
    tracking.close_run(run_id, "KILLED")
    return lose(study, storage, live.number, reason) or reason
