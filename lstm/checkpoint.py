"""Saving and loading runs with plain tensors and primitives only: `torch.load(weights_only=True)`."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import torch
from torch import nn

from .models import build_model


def atomic_save(obj: dict, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
    torch.save(obj, tmp)
    tmp.replace(path)


class CheckpointWriter:
    """Writes checkpoints on a background thread, so training goes on while the bytes reach the disk.

    `save` first copies every tensor to the host (milliseconds), so later steps cannot change what is
    written; a new save, `wait()` and leaving the `with` block wait for the write before."""

    def __init__(self):
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def save(self, obj: dict, path: Path) -> None:
        snapshot = _host_copy(obj)
        self.wait()
        self._thread = threading.Thread(target=self._write, args=(snapshot, path), daemon=True)
        self._thread.start()

    def _write(self, obj: dict, path: Path) -> None:
        try:
            atomic_save(obj, path)
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
