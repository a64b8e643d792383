"""What a trial used to wait for inside its data load, started on a thread at the top of the trial flow, so
that it runs while the trial talks to its servers (the study asked, the MLflow run opened, the data fetched):

- CUDA's start: the driver, the primary context, cuBLAS and cuDNN's RNN libraries (3.5–4.7 s of data_load
  on the H200 machine). The driver's cuInit goes through ctypes, which lets go of the GIL, and torch's
  kernels let go of it too, so this part runs beside the main thread's Python on another core. Without a
  CUDA driver or device it is skipped.
- torch._dynamo's import, sympy included, which torch.optim makes when the first optimizer is built
  (~1.2 s on the CPU machine). It is Python, so it overlaps only the main thread's waits on its servers.

`join()` before training. lstm.train seeds every generator (torch.manual_seed) after the join, so the
warm-up's own random draws change nothing a trial computes. A failure here is only logged: training then
meets the same problem itself and reports it there.
"""

from __future__ import annotations

import ctypes
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


class Warmup:
    def __init__(self):
        self.cuda: bool | None = None
        self.error: BaseException | None = None
        self.seconds = 0.0  # how long the warm-up itself took
        self._thread = threading.Thread(target=self._run, daemon=True, name="trial-warmup")

    def start(self) -> Warmup:
        self._thread.start()
        return self

    def _run(self) -> None:
        t0 = time.perf_counter()
        try:
            self.cuda = start_cuda()
            import torch._dynamo  # noqa: F401
        except BaseException as exc:  # said at join; training meets it again where it belongs
            self.error = exc
        self.seconds = time.perf_counter() - t0

    def join(self, logger=None) -> float:
        """Wait for the warm-up; returns the seconds waited."""
        t0 = time.perf_counter()
        self._thread.join()
        if self.error is not None and logger is not None:
            logger.warning("warm-up failed (training starts CUDA itself): %s: %s", type(self.error).__name__,
                           self.error)
        return time.perf_counter() - t0
