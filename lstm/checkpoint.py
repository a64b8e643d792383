"""Saving and loading runs with plain tensors and primitives only: `torch.load(weights_only=True)`.

A run's checkpoint.pt holds the model, optimizer and scaler state, `epoch` (the last epoch completed), the
history, the best epoch so far and `partial`: None at an epoch's end, else how far into the next epoch it
was saved (batches trained, their loss sum and count, the random generators' states), so that a resumed run
goes on from that batch with the same batch order and dropout masks as an unbroken one.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from .models import build_model


def atomic_save(obj: dict, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
    torch.save(obj, tmp)
    tmp.replace(path)


class Interrupted(Exception):
    """Training stopped on request (its `should_stop`) once a checkpoint of where it was had been written."""

    def __init__(self, epoch: int, batches: int):
        super().__init__(f"stopped in epoch {epoch} after {batches} batches; checkpoint saved")
        self.epoch, self.batches = epoch, batches


class CheckpointWriter:
    """Writes checkpoints on a background thread, so training goes on while the bytes reach the disk.

    `save` first copies every tensor to the host (milliseconds), so later steps cannot change what is
    written; a new save, `wait()` and leaving the `with` block wait for the write before. `after(path,
    checkpoint)` runs on that thread once a checkpoint is on disk (a trial uploads it there)."""

    def __init__(self, after: Callable[[Path, dict], None] | None = None):
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._after = after

    def save(self, obj: dict, path: Path) -> None:
        snapshot = _host_copy(obj)
        self.wait()
        self._thread = threading.Thread(target=self._write, args=(snapshot, path), daemon=True)
        self._thread.start()

    def _write(self, obj: dict, path: Path) -> None:
        try:
            atomic_save(obj, path)
            if self._after:
                self._after(path, obj)
        except BaseException as exc:  # raised again in the training thread, by wait()
            self._error = exc

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def __enter__(self) -> CheckpointWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.wait()


def _host_copy(obj):
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: _host_copy(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_host_copy(v) for v in obj)
    return obj


def save_model(path: Path, model: nn.Module, config: dict, vocab: list[str], manifest_hash: str) -> None:
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    atomic_save({"config": config, "vocab": vocab, "state_dict": state, "data_hash": manifest_hash}, path)


def load_model(run_or_file: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild a trained model from RUN/model.pt; returns (model in eval mode, the saved dict)."""
    path = Path(run_or_file)
    if path.is_dir():
        path = path / "model.pt"
    saved = torch.load(path, map_location=device, weights_only=True)
    model = build_model(saved["config"], len(saved["vocab"]))
    model.load_state_dict(saved["state_dict"])
    return model.to(device).eval(), saved


def progress(checkpoint: dict) -> tuple[int, int]:
    """(epochs completed, batches into the next one): later checkpoints of a run compare greater."""
    return checkpoint["epoch"], (checkpoint.get("partial") or {}).get("batches", 0)


def progress_of(path: Path) -> tuple[int, int] | None:
    """A checkpoint file's progress, None if there is none (memory-mapped: the weights are not read)."""
    if not path.is_file():
        return None
    return progress(torch.load(path, map_location="cpu", weights_only=True, mmap=True))


def rng_state() -> dict:
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])
