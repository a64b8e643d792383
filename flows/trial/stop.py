"""SIGTERM is a warning, not a crash: Kubernetes, Slurm, spot VMs and `docker compose stop` send it before
they stop a machine (SIGKILL follows, often after 30 s), and Prefect sends it to cancel a flow run.

While a trial trains, SIGTERM asks lstm.train to stop at the next batch: it writes a checkpoint of where it
was, the trial uploads it, records how it ended and hands the signal to Prefect's own handler, which ends the
flow run Cancelled (a cancel) or Crashed (anything else). Outside training (start-up, the final evaluation)
Prefect's handler gets the signal at once: the sweep then continues the trial from its last checkpoint.
"""

from __future__ import annotations

import signal
import threading


class StopOnSigterm:
    def __init__(self):
        self.requested = threading.Event()
        self.training = False
        self.previous = None

    def __enter__(self) -> StopOnSigterm:
        if threading.current_thread() is threading.main_thread():  # signals are only ever delivered there
            self.previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)

    def _handle(self, signum, frame) -> None:
        if self.training and not self.requested.is_set():
            self.requested.set()  # lstm.train's should_stop
            return
        self.hand_over(frame)  # not training, or a second SIGTERM: no more waiting

    def hand_over(self, frame=None) -> None:
        """What SIGTERM would have done without us: Prefect's handler (it raises TerminationSignal)."""
        previous = self.previous
        if callable(previous):
            previous(signal.SIGTERM, frame)
        elif previous == signal.SIG_DFL:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.raise_signal(signal.SIGTERM)
