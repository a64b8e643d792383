"""A trial worker that passes SIGTERM on to its trials: `python -m flows.ops.worker ARGS` runs
`prefect worker start ARGS` and stays beside it.

Prefect's worker takes SIGTERM as "stop taking flow runs" and leaves the processes of the flow runs it
started alone (each runs in its own session). When the machine then goes (a container stopped, a pod
evicted, a spot VM reclaimed) they are killed without a warning, and a trial loses the training since its
last checkpoint. Here a SIGTERM reaches the trials first: each stops at its next batch with a checkpoint
(flows/trial/stop.py), while the worker takes no new one and ends once they have. A trial needs a few
seconds for it; give the machine's stop 30 s or more (compose: `stop_grace_period`).
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from pathlib import Path

PR_SET_PDEATHSIG = 1  # linux/prctl.h


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
        worker.send_signal(signal.SIGTERM)  # first: it takes no new flow run, and waits for its own to end
        for pid in runs:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop)
    return worker.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
