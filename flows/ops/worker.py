"""A trial worker that passes SIGTERM on to its trials: `python -m flows.ops.worker ARGS` runs
`prefect worker start ARGS` and stays beside it.

Prefect's worker takes SIGTERM as "stop taking flow runs" and leaves the processes of the flow runs it
started alone (each runs in its own session). When the machine then goes (a container stopped, a pod
evicted, a spot VM reclaimed) they are killed without a warning, and a trial loses the training since its
last checkpoint. Here a SIGTERM reaches the trials first: each stops at its next batch with a checkpoint
(flows/trial/stop.py) while the worker is paused (it takes no new flow run meanwhile); then the worker is
stopped. A trial needs a few seconds for it; give the machine's stop 30 s or more (compose: `stop_grace_period`).
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from flows.ops.machine import alive

PR_SET_PDEATHSIG = 1  # linux/prctl.h
GRACE_SECONDS = 25  # for the trials to save their checkpoints: inside the usual 30 s before SIGKILL


def children() -> dict[int, list[int]]:
    """Every process's children, from /proc (Linux)."""
    out: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        out.setdefault(ppid, []).append(int(stat.parent.name))
    return out


def descendants(pid: int) -> list[int]:
    tree, found, todo = children(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _die_with_parent() -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: a SIGKILL of this process leaves the worker running
        pass


def main(argv: list[str]) -> int:
    # Its own session, so that a signal to this process's group (Stack.stop, a shell's kill) reaches it once, from
    # here; and it dies with this process (PR_SET_PDEATHSIG), so nothing outlives a SIGKILL of the group.
    worker = subprocess.Popen([str(Path(sys.executable).parent / "prefect"), "worker", "start", *argv],
                              start_new_session=True, preexec_fn=_die_with_parent)

    stopping = []

    def stop(signum, frame) -> None:
        if stopping:  # once: a second SIGTERM would make Prefect's worker kill itself at once
            return
        stopping.append(signum)
        runs = descendants(worker.pid)  # the flow runs' processes (a supervisor ignores it; its engine stops)
        # Paused meanwhile, it takes no new flow run (not the continuation of one it runs), and it cannot end its
        # flow runs before they have saved their checkpoints (once it exits, their output has nowhere to go).
        worker.send_signal(signal.SIGSTOP)
        for pid in runs:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + GRACE_SECONDS
        # one that has ended stays a zombie until the paused worker reaps it: alive() counts it as ended
        while any(alive(p) for p in runs) and time.monotonic() < deadline:
            time.sleep(0.2)
        # SIGTERM while still paused: it is pending when the worker resumes, so the worker stops taking flow runs
        # before its polling can pick up the continuation of a trial it has just stopped.
        worker.send_signal(signal.SIGTERM)
        worker.send_signal(signal.SIGCONT)

    signal.signal(signal.SIGTERM, stop)
    return worker.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
