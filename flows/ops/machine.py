"""What this machine offers the local stack: its GPUs, and a wait for a server to answer."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path


def visible_gpus() -> list[str]:
    """The GPUs this machine lets us use: CUDA_VISIBLE_DEVICES when set, else `nvidia-smi -L` (no torch import)."""
    if (visible := os.environ.get("CUDA_VISIBLE_DEVICES")) is not None:
        return [d.strip() for d in visible.split(",") if d.strip()]
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return []
    if out.returncode != 0:
        return []
    return [str(i) for i, _ in enumerate(x for x in out.stdout.splitlines() if x.startswith("GPU "))]


def wait_http(url: str, timeout: float, log: Path | None = None, pid: int | None = None) -> None:
    """Until `url` answers 200; sooner an error with the log's tail when process `pid` (the server) has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            if pid is not None and not alive(pid):
                raise RuntimeError(f"the server for {url} exited before it answered\n{_tail(log)}") from None
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f}s\n{_tail(log)}")


def alive(pid: int) -> bool:
    """Whether `pid` runs; an exited child that nobody has reaped yet (a zombie) does not."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):  # gone, or gone while it was read
        return False


def _tail(log: Path | None) -> str:
    return log.read_text()[-2000:] if log and log.is_file() else ""


def free_port() -> int:
    """A free loopback port (a server started on it for the purpose: the tests' stacks, a benchmark's)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
