"""Saving and loading runs with plain tensors and primitives only: `torch.load(weights_only=True)`."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from .models import build_model


def atomic_save(obj: dict, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
    torch.save(obj, tmp)
    tmp.replace(path)


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
