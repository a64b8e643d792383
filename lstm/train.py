"""The training loop: shuffled windows, mixed precision on CUDA, a checkpoint every epoch.

The run keeps its best epoch: the weights of the epoch with the highest validation accuracy (ties: the
lower validation loss, then the earlier epoch) are what model.pt holds and what the test metrics,
generation and the registry see; training stops once `patience` epochs in a row have not beaten it.
The checkpoint carries that best state too, so a resumed run keeps the same best epoch.

`on_epoch(metrics)` is called after each epoch with train_loss, val_loss, val_accuracy, best_epoch and
epoch_seconds; it may raise to stop training (the study raises optuna's TrialPruned there).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from lstm.data.manifest import load_manifest
from lstm.data.targets import CONTEXT
from lstm.data.windows import Split, load_split, load_vocab

from .checkpoint import CheckpointWriter, save_model
from .evaluate import evaluate_split
from .metrics import EpochMetrics, RunMetrics
from .model_config import EMBED_DIM, EMBED_DROPOUT, EMBED_HIDDEN_SIZE, ModelConfig
from .models import build_model
from .precision import amp_context, make_scaler
from .seed import SEED


@dataclass
class TrainConfig:
    # The model's part, flat so that config.json stays one level: ModelConfig's fields (`model` is its kind),
    # validated by ModelConfig. Build it from the user's options with lstm.models.model_config.
    model: str = "embed"
    hidden_sizes: list[int] = field(default_factory=lambda: [EMBED_HIDDEN_SIZE])
    embed_dim: int = EMBED_DIM
    dropout: float = EMBED_DROPOUT
    batch_size: int = 64
    epochs: int = 10  # an upper bound: patience stops a run whose validation accuracy has peaked
    lr: float = 2e-3
    optimizer: str = "adamw"
    weight_decay: float = 0.01
    seq_len: int = 100
    windows_per_epoch: int = 0  # 0: every window once an epoch (the seed capped the total at 350,000)
    eval_windows: int = 0  # validation targets scored after each epoch, evenly spaced; 0: all
    patience: int = 3  # stop after this many epochs without a better validation accuracy; 0: never
    seed: int = 0

    def __post_init__(self):
        _ = self.model_config  # ModelConfig validates the model's part
        if self.optimizer not in ("sgd", "adamw"):
            raise ValueError(f"optimizer must be sgd or adamw, not {self.optimizer!r}")
        for name in ("batch_size", "epochs", "seq_len"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in ("windows_per_epoch", "eval_windows"):  # 0 means all; a negative count used to slice
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 (all) or more")
        if self.patience < 0:
            raise ValueError("patience must be 0 (never stop early) or more")
        if not 0 < self.lr < math.inf:
            raise ValueError(f"lr must be positive, not {self.lr}")

    @property
    def model_config(self) -> ModelConfig:
        return ModelConfig(self.model, list(self.hidden_sizes), self.embed_dim, self.dropout)


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda asked for, but no CUDA device is available")
    return torch.device(name)


def make_optimizer(cfg: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":  # the seed's optimizer: SGD with its momentum
        return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=SEED.momentum)
    return torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)


def train_step(model: nn.Module, opt: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
               batch: torch.Tensor) -> torch.Tensor:
    """One optimizer step; returns the loss on the device (no host sync)."""
    with amp_context(batch.device):
        loss = loss_on(model, batch)
    opt.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.unscale_(opt)
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    scaler.step(opt)
    scaler.update()
    return loss.detach()


def loss_on(model: nn.Module, batch: torch.Tensor) -> torch.Tensor:
    inputs, targets = batch[:, :-1], batch[:, 1:]
    logits = model(inputs)
    if model.all_positions:
        return F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten())
    return F.cross_entropy(logits.float(), targets[:, -1])


def train_epoch(model: nn.Module, opt, scaler, split: Split, cfg: TrainConfig, epoch: int, windows: int) -> float:
    """`windows` windows of a shuffle seeded by the epoch; returns their mean training loss."""
    dev = split.tokens.device
    # Seeded per epoch, so a resumed run draws the same batches and dropout masks as an unbroken one.
    torch.manual_seed(cfg.seed * 100_003 + epoch)
    order = torch.randperm(len(split), device=dev)[:windows]
    model.train()
    total, count = torch.zeros((), device=dev), 0
    bar = tqdm(order.split(cfg.batch_size), desc=f"epoch {epoch}/{cfg.epochs}", unit="batch", disable=None,
               leave=False)
    for idx in bar:
        loss = train_step(model, opt, scaler, split.batch(split.starts[idx]))
        total += loss * len(idx)
        count += len(idx)
    return float(total) / max(count, 1)


def train(data: str | Path, run: str | Path, cfg: TrainConfig, device: str = "auto",
          on_epoch: Callable[[EpochMetrics], None] | None = None, resume: bool = False,
          on_kept: Callable[[Path], None] | None = None) -> RunMetrics:
    """Train, checkpointing into RUN; returns the final metrics (also written to RUN/metrics.json).

    on_epoch: called with each epoch's metrics (it may raise to stop training). on_kept: called with
    RUN/model.pt once the kept model is saved, before it is evaluated, so that work needing only the
    model overlaps the evaluation (a trial samples its music there, and FluidSynth renders meanwhile)."""
    from .evaluate import evaluate_run

    data, run = Path(data), Path(run)
    run.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    dev = pick_device(device)
    vocab, manifest = load_vocab(data), load_manifest(data)
    train_split = load_split(data, "train", cfg.seq_len, dev)
    val_split = load_split(data, "validation", cfg.seq_len, dev)
    if len(train_split) == 0:
        raise ValueError(f"no training window: every train file is shorter than seq_len + 1 = {cfg.seq_len + 1}")
    if len(val_split.scored()) == 0:
        raise ValueError(f"no validation target: no validation file has more than {CONTEXT} tokens")

    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model_config, len(vocab)).to(dev)
    opt = make_optimizer(cfg, model)
    scaler = make_scaler(dev)
    history, start_epoch, best = [], 1, None
    ckpt = run / "checkpoint.pt"
    if resume and ckpt.is_file():
        saved = torch.load(ckpt, map_location=dev, weights_only=True)
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        scaler.load_state_dict(saved.get("scaler", {}))
        history, start_epoch = saved["history"], saved["epoch"] + 1
        best = saved.get("best") or _best_of(history[-1], model)  # older checkpoints kept no best state
    (run / "config.json").write_text(json.dumps(asdict(cfg), indent=2))

    loaded = time.perf_counter()
    per_epoch = cfg.windows_per_epoch or len(train_split)
    with CheckpointWriter() as checkpoints:  # written while the next epoch trains
        for epoch in range(start_epoch, cfg.epochs + 1):
            if cfg.patience and best and epoch - 1 - best["epoch"] >= cfg.patience:
                break  # early stop (checked first, so a resumed run that had stopped trains no more)
            t0 = time.perf_counter()
            train_loss = train_epoch(model, opt, scaler, train_split, cfg, epoch, per_epoch)
            val = evaluate_split(model, val_split, cfg.batch_size * 4, max_targets=cfg.eval_windows)
            if not math.isfinite(train_loss):
                raise FloatingPointError(f"training diverged at epoch {epoch} (loss {train_loss})")
            figures = {"epoch": epoch, "val_accuracy": val["accuracy"], "val_loss": val["loss"]}
            if best is None or _better(figures, best):
                best = _best_of(figures, model)
            metrics = EpochMetrics(epoch=epoch, train_loss=train_loss, val_loss=val["loss"],
                                   val_accuracy=val["accuracy"], epoch_seconds=time.perf_counter() - t0,
                                   best_epoch=best["epoch"])
            history.append(metrics)
            checkpoints.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                              "scaler": scaler.state_dict(), "epoch": epoch, "history": history,
                              "best": best}, ckpt)
            if on_epoch:
                on_epoch(metrics)

    trained = time.perf_counter()
    model.load_state_dict(best["model"])  # the kept model is the best epoch's
    save_model(run / "model.pt", model, asdict(cfg), vocab, manifest.input_hash)
    hook_started = time.perf_counter()
    if on_kept:
        on_kept(run / "model.pt")
    in_hook = time.perf_counter() - hook_started  # the caller's time, not the evaluation's
    evaluation = evaluate_run(run, data, device=str(dev), model=model,
                              splits={"train": train_split, "validation": val_split})
    result = RunMetrics(
        **evaluation, best_epoch=best["epoch"], epochs_trained=len(history),
        stopped_early=len(history) < cfg.epochs, history=history,
        # Where this call's time went (the study logs them): data_load includes building the model and optimizer.
        phase_seconds={"data_load": loaded - started, "training": trained - loaded,
                       "evaluation": time.perf_counter() - trained - in_hook})
    (run / "metrics.json").write_text(json.dumps(result, indent=2))
    return result


def _better(metrics: dict, best: dict) -> bool:
    """Higher validation accuracy; at equal accuracy, lower validation loss (else the earlier epoch stays)."""
    return (metrics["val_accuracy"], -metrics["val_loss"]) > (best["val_accuracy"], -best["val_loss"])


def _best_of(metrics: dict, model: nn.Module) -> dict:
    """The best epoch so far: its figures and a host copy of its weights (later steps must not change it)."""
    state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
    return {"epoch": metrics["epoch"], "val_accuracy": metrics["val_accuracy"], "val_loss": metrics["val_loss"],
            "model": state}
