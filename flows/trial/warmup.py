"""What a trial used to wait for inside its data load, started on threads so that it runs while the trial
process does other things:

- CUDA's start: the driver, the primary context, cuBLAS and cuDNN's RNN libraries (3.5–4.7 s of data_load
  on the H200 machine). In a flow run's own process (the process worker sets PREFECT__FLOW_RUN_ID) it starts
  when Prefect loads the trial flow, beside the imports of torch, MLflow and Optuna and Prefect's engine
  (~10 s of startup there); elsewhere (a flow called in-process) at the flow's first line. The driver's
  cuInit goes through ctypes, which lets go of the GIL, and torch's kernels let go of it too, so it runs on
  another core beside the main thread's Python. Without a CUDA driver or device it is skipped.
- torch._dynamo's import, sympy included, which torch.optim makes when the first optimizer is built
  (~1.2 s on the CPU machine): at the flow's first line, once the module imports are done (two threads
  importing at once could deadlock on the import locks). It is Python, so it overlaps only the main
  thread's waits on its servers (the study asked, the MLflow run opened, the data fetched).

`join()` before training. lstm.train seeds every generator (torch.manual_seed) after the join, so the
warm-up's own random draws change nothing a trial computes. A failure here is only logged: training then
meets the same problem itself and reports it there.
"""

from __future__ import annotations

import ctypes
import os
import threading
import time


def start_cuda() -> bool:
    """Start CUDA and the libraries a step uses; False where there is no CUDA to start."""
    try:
        driver = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False  # no NVIDIA driver on this machine
    if driver.cuInit(0) != 0:  # no device (or none visible): nothing to warm
        return False
    import torch

    if not torch.cuda.is_available():  # a CPU build of torch beside a driver
        return False
    x = torch.ones(64, 64, device="cuda")
    (x @ x).sum()  # cuBLAS
    lstm = torch.nn.LSTM(8, 8, device="cuda")  # cuDNN and its RNN sub-library
    out, _ = lstm(torch.zeros(2, 1, 8, device="cuda"))
    out.sum().backward()
    torch.cuda.synchronize()
    return True


def import_dynamo() -> None:
    import torch._dynamo  # noqa: F401


class Warmup:
    def __init__(self):
        self.cuda: bool | None = None
        self.errors: list[BaseException] = []
        self._threads = {name: threading.Thread(target=self._run, args=(name,), daemon=True, name=f"warmup-{name}")
                         for name in ("cuda", "imports")}

    def start(self, *stages: str) -> Warmup:
        """Start the stages named (default: both) that have not started yet."""
        for name in stages or tuple(self._threads):
            if self._threads[name].ident is None:
                self._threads[name].start()
        return self

    def _run(self, name: str) -> None:
        try:
            if name == "cuda":
                self.cuda = start_cuda()
            else:
                import_dynamo()
        except BaseException as exc:  # said at join; training meets it again where it belongs
            self.errors.append(exc)

    def join(self, logger=None) -> float:
        """Wait for the started stages; returns the seconds waited."""
        t0 = time.perf_counter()
        for t in self._threads.values():
            if t.ident is not None:
                t.join()
        for exc in self.errors if logger is not None else ():
            logger.warning("warm-up failed (training starts CUDA itself): %s: %s", type(exc).__name__, exc)
        return time.perf_counter() - t0


WARMUP = Warmup()
if os.environ.get("PREFECT__FLOW_RUN_ID"):  # a flow run's own process: start CUDA beside its imports
    WARMUP.start("cuda")
