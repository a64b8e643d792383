"""Mixed precision on CUDA, one definition for training, evaluation and the benchmark.

fp16 with a GradScaler, not bf16: under autocast cuDNN's LSTM computes in fp16 whatever dtype is
asked for, and unscaled fp16 gradients of the lower layers flush to zero (measured on an H100).
"""

from __future__ import annotations

from contextlib import nullcontext

import torch


def amp_context(device: torch.device):
    return torch.autocast("cuda", dtype=torch.float16) if device.type == "cuda" else nullcontext()


def make_scaler(device: torch.device) -> torch.amp.GradScaler:
    """Loss scaling on CUDA; a pass-through elsewhere."""
    return torch.amp.GradScaler("cuda", enabled=device.type == "cuda")
