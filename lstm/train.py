"""The training loop: shuffled windows, mixed precision on CUDA, a checkpoint every epoch and every few
minutes inside one.

An epoch is one pass over the training tokens (`epoch_windows`), validated on the same `eval_windows`
evenly spaced validation targets every epoch (EPOCH_EVAL_TARGETS by default): a unit small enough to see
where validation peaks on real performances, at a cost that does not grow with the corpus.

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
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from lstm.data.manifest import load_manifest
from lstm.data.targets import CONTEXT
from lstm.data.windows import Split, load_split, load_vocab

from .checkpoint import CheckpointWriter, Interrupted, rng_state, save_model, set_rng_state
from .evaluate import evaluate_split
from .metrics import EpochMetrics, RunMetrics
from .models import build_model
from .precision import amp_context, make_scaler
from .seed import SEED
from .train_config import TrainConfig


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda asked for, but no CUDA device is available")
    return torch.device(name)


def make_optimizer(cfg: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":  # the seed's optimizer: SGD with its momentum
        return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=SEED.momentum)
    # Fused on CUDA: one kernel for the whole update instead of several per parameter, and with a GradScaler
    # the inf check stays on the device (the unfused step reads it on the host, a sync every step).
    fused = all(p.is_cuda for p in model.parameters()) or None
    return torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, fused=fused)


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


def epoch_windows(split: Split, all_positions: bool, asked: int = 0) -> int:
    """Windows an epoch draws: `asked`, or (0) one pass over the training tokens.

    A model scored at every position (embed) learns seq_len targets from a window, so a pass is
    tokens / seq_len windows; the seed's model learns one (the last), so a pass is every window. Each token
    is then a target about once an epoch, as a user of `epochs` expects: an epoch of every window would
    be seq_len passes, and on real performances the embed model overfits inside that first epoch."""
    if asked or not all_positions:
        return min(asked or len(split), len(split))
    return max(1, min(len(split), math.ceil(len(split.tokens) / split.seq_len)))


def train_epoch(model: nn.Module, opt, scaler, split: Split, cfg: TrainConfig, epoch: int, windows: int,
                partial: dict | None = None, after_batch: Callable[[int, torch.Tensor, int], None] | None = None
                ) -> float:
    """`windows` windows of a shuffle seeded by the epoch; returns their mean training loss.

    partial: a mid-epoch checkpoint's `partial` (lstm/checkpoint.py): go on after its batches.
    after_batch(batches done, loss sum on the device, windows done): called after every step."""
    dev = split.tokens.device
    # Seeded per epoch, so a resumed run draws the same batches and dropout masks as an unbroken one.
    torch.manual_seed(cfg.seed * 100_003 + epoch)
    order = torch.randperm(len(split), device=dev)[:windows]
    total, count, skip = torch.zeros((), device=dev), 0, 0
    if partial:
        skip, count = partial["batches"], partial["count"]
        total += partial["loss_sum"]
        set_rng_state(partial["rng"])  # where the dropout masks were
    model.train()
    batches = order.split(cfg.batch_size)[skip:]
    bar = tqdm(batches, desc=f"epoch {epoch}/{cfg.epochs}", unit="batch", disable=None, leave=False)
    for done, idx in enumerate(bar, start=skip + 1):
        loss = train_step(model, opt, scaler, split.batch(split.starts[idx]))
        total += loss * len(idx)
        count += len(idx)
        if after_batch:
            after_batch(done, total, count)
    return float(total) / max(count, 1)


class MidEpochCheckpoints:
    """Inside an epoch: a checkpoint every `seconds` of training, and one when `should_stop()` says so, after
    which training raises Interrupted (a preempted or cancelled trial goes on from that batch later)."""

    def __init__(self, save: Callable[[dict], None], wait: Callable[[], None], seconds: float,
                 should_stop: Callable[[], bool] | None):
        self.save, self.wait, self.seconds, self.should_stop = save, wait, seconds, should_stop
        self.epoch, self.last = 0, time.perf_counter()

    def __call__(self, batches: int, loss_sum: torch.Tensor, count: int) -> None:
        stop = self.should_stop is not None and self.should_stop()
        if stop or time.perf_counter() - self.last >= self.seconds:
            self.save({"batches": batches, "loss_sum": float(loss_sum), "count": count, "rng": rng_state()})
            self.last = time.perf_counter()
        if stop:
            self.wait()  # written (and, for a trial, uploaded) before training ends
            raise Interrupted(self.epoch, batches)


def train(data: str | Path, run: str | Path, cfg: TrainConfig, device: str = "auto",
          on_epoch: Callable[[EpochMetrics], None] | None = None, resume: bool = False,
          on_kept: Callable[[Path], None] | None = None,
          on_checkpoint: Callable[[Path, dict], None] | None = None, checkpoint_seconds: float = 600.0,
          should_stop: Callable[[], bool] | None = None) -> RunMetrics:
    """Train, checkpointing into RUN; returns the final metrics (also written to RUN/metrics.json).

    on_epoch: called with each epoch's metrics (it may raise to stop training). on_kept: called with
    RUN/model.pt once the kept model is saved, before it is evaluated, so that work needing only the
    model overlaps the evaluation (a trial samples its music there, and FluidSynth renders meanwhile).
    A checkpoint is written at every epoch's end and every `checkpoint_seconds` of training inside one;
    on_checkpoint(path, checkpoint) runs on the writer's thread once it is on disk. should_stop() is asked
    after every batch: when true, a checkpoint is written and Interrupted raised."""
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
    history, start_epoch, best, partial = [], 1, None, None
    ckpt = run / "checkpoint.pt"
    if resume and ckpt.is_file():
        saved = torch.load(ckpt, map_location=dev, weights_only=True)
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        scaler.load_state_dict(saved.get("scaler", {}))
        history, start_epoch = saved["history"], saved["epoch"] + 1
        best = saved.get("best")
        if best is None and history:  # older checkpoints kept no best state
            best = _best_of(history[-1], model)
        partial = saved.get("partial")
    (run / "config.json").write_text(json.dumps(asdict(cfg), indent=2))

    loaded = time.perf_counter()
    per_epoch = epoch_windows(train_split, model.all_positions, cfg.windows_per_epoch)
    with CheckpointWriter(after=on_checkpoint) as writer:  # written while the next epoch trains
        def save(epoch_done: int, partial_epoch: dict | None) -> None:
            writer.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                         "scaler": scaler.state_dict(), "epoch": epoch_done, "history": history, "best": best,
                         "partial": partial_epoch}, ckpt)

        mid_epoch = MidEpochCheckpoints(lambda p: save(mid_epoch.epoch - 1, p), writer.wait, checkpoint_seconds,
                                        should_stop)
        for epoch in range(start_epoch, cfg.epochs + 1):
            if cfg.patience and best and epoch - 1 - best["epoch"] >= cfg.patience:
                break  # early stop (checked first, so a resumed run that had stopped trains no more)
            t0, mid_epoch.epoch = time.perf_counter(), epoch
            train_loss = train_epoch(model, opt, scaler, train_split, cfg, epoch, per_epoch,
                                     partial if epoch == start_epoch else None, mid_epoch)
            val = evaluate_split(model, val_split, cfg.batch_size * 4, max_targets=cfg.eval_windows)
            if not math.isfinite(train_loss):
                raise FloatingPointError(f"training diverged at epoch {epoch} (loss {train_loss})")
            figures = {"epoch": epoch, "val_accuracy": val["accuracy"], "val_loss": val["loss"]}
            if best is None or _better(figures, best):
                best = _best_of(figures, model)
            metrics = EpochMetrics(epoch=epoch, train_loss=train_loss, val_loss=val["loss"],
                                   val_accuracy=val["accuracy"], val_targets=val["targets"],
                                   epoch_seconds=time.perf_counter() - t0, best_epoch=best["epoch"])
            history.append(metrics)
            save(epoch, None)
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
        **evaluation, best_epoch=best["epoch"], epochs_trained=len(history), epoch_windows=per_epoch,
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
