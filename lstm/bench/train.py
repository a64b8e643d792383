"""`lstm bench`: training and evaluation throughput, the seed-style loop next to ours.

A *window* is seq_len input tokens; a *target* is one next token the loss (or the accuracy) is
computed on. The seed-style loop trains on the last position of a window only (1 target a window);
ours trains on every position (seq_len targets a window). Both are timed over a fixed number of
optimizer steps after warm-up steps, with CUDA synchronized before the clock starts and stops.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lstm.data.windows import Split, load_split, load_vocab
from lstm.evaluate import evaluate_split
from lstm.model_config import model_config
from lstm.models import build_model
from lstm.precision import make_scaler
from lstm.train import TrainConfig, make_optimizer, train_step

from .seed_loop import endless, materialize_windows, seed_loader, seed_optimizer, seed_step


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(step: Callable[[], None], warmup: int, steps: int, device: torch.device) -> float:
    """Seconds for `steps` calls of `step`, after `warmup` untimed calls."""
    for _ in range(warmup):
        step()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return time.perf_counter() - t0


def bench_model(path: str, vocab_size: int, hidden_size: int, num_layers: int, embed_dim: int) -> nn.Module:
    """The seed's network (its own layer count) or ours (embed, `num_layers`), both `hidden_size` wide."""
    if path == "seed":
        return build_model(model_config("seed", hidden_size=hidden_size), vocab_size)
    return build_model(model_config("embed", hidden_size=hidden_size, num_layers=num_layers, embed_dim=embed_dim),
                       vocab_size)


def ours_optimizer(model: nn.Module) -> torch.optim.Optimizer:
    return make_optimizer(TrainConfig(model="embed"), model)  # train.py's: AdamW at its default lr


def ours_step(model: nn.Module, opt: torch.optim.Optimizer, split: Split, batch_size: int) -> Callable[[], None]:
    """train.py's step on a batch gathered on the device from random window starts: every position,
    fp16 autocast with a GradScaler on CUDA, gradient clipping. No .item() in the loop."""
    device = split.tokens.device
    scaler = make_scaler(device)

    def step() -> None:
        idx = torch.randint(len(split), (batch_size,), device=device)
        train_step(model, opt, scaler, split.batch(split.starts[idx]))

    return step


def _figures(windows: int, targets_per_window: int, seconds: float, **extra) -> dict:
    return {"windows": windows, "targets_per_window": targets_per_window, "targets": windows * targets_per_window,
            "seconds": seconds, "windows_per_s": windows / seconds,
            "targets_per_s": windows * targets_per_window / seconds, **extra}


def bench_training(data: Path, cfg, device: torch.device) -> tuple[dict, dict]:
    """({'seed': ..., 'ours': ...} training figures, the two models for the evaluation section)."""
    vocab_size = len(load_vocab(data))
    L = cfg.seq_len

    t0 = time.perf_counter()
    inputs, targets = materialize_windows(np.load(data / "train_tokens.npy"), np.load(data / "train_offsets.npy"), L)
    loader = seed_loader(inputs, targets, cfg.seed_batch_size)
    seed_setup = time.perf_counter() - t0
    if len(inputs) < cfg.seed_batch_size:
        raise ValueError(f"the train split has {len(inputs)} windows of {L}: fewer than one batch")
    torch.manual_seed(0)
    seed_model = bench_model("seed", vocab_size, cfg.hidden_size, cfg.num_layers, cfg.embed_dim).to(device).train()
    step = seed_step(seed_model, seed_optimizer(seed_model), endless(loader), device)
    seconds = timed(step, cfg.seed_warmup_steps, cfg.seed_steps, device)
    seed = _figures(cfg.seed_steps * cfg.seed_batch_size, 1, seconds, batch_size=cfg.seed_batch_size,
                    steps=cfg.seed_steps, warmup_steps=cfg.seed_warmup_steps, setup_seconds=seed_setup,
                    host_window_bytes=int(inputs.nbytes + targets.nbytes), precision="fp32")
    del inputs, targets, loader, step

    t0 = time.perf_counter()
    split = load_split(data, "train", L, device)
    sync(device)
    ours_setup = time.perf_counter() - t0
    torch.manual_seed(0)
    model = bench_model("ours", vocab_size, cfg.hidden_size, cfg.num_layers, cfg.embed_dim).to(device).train()
    step = ours_step(model, ours_optimizer(model), split, cfg.batch_size)
    seconds = timed(step, cfg.warmup_steps, cfg.steps, device)
    ours = _figures(cfg.steps * cfg.batch_size, L, seconds, batch_size=cfg.batch_size, steps=cfg.steps,
                    warmup_steps=cfg.warmup_steps, setup_seconds=ours_setup,
                    precision="fp16 autocast + GradScaler" if device.type == "cuda" else "fp32")
    return {"seed": seed, "ours": ours}, {"seed": seed_model, "ours": model}


def bench_evaluation(data: Path, models: dict, cfg, device: torch.device) -> dict:
    """evaluate_split (inference_mode; one window a target) on evenly spaced targets of the train split: the largest, so that the timed work is not a single small batch."""
    split, name = load_split(data, "train", cfg.seq_len, device), "train"
    out = {}
    for key, model in models.items():
        evaluate_split(model, split, cfg.eval_batch_size, max_targets=min(cfg.eval_batch_size, 64))  # warm-up
        sync(device)
        t0 = time.perf_counter()
        r = evaluate_split(model, split, cfg.eval_batch_size, max_targets=cfg.eval_windows)
        sync(device)
        out[key] = _figures(r["targets"], 1, time.perf_counter() - t0, batch_size=cfg.eval_batch_size, split=name)
    return out

