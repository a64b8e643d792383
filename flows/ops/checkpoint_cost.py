"""What uploading a trial's checkpoint costs: `python -m flows.ops.checkpoint_cost [--space wide]`.

Builds the largest model of the space (every searched size at its top), takes AdamW steps on random token
windows, and times the same steps with and without a checkpoint being written and uploaded in the background
(lstm.train's CheckpointWriter with the trial's Uploader, flows/trial/checkpoints.py), interleaved, against a
real MLflow server with artifact serving started for the purpose in a temporary directory. Prints the
checkpoint's size, the write and upload seconds, the steps' extra seconds while it uploads, and that extra as
a share of the space's `checkpoint_minutes` (how often a long epoch uploads one): the slowdown of an epoch.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

import torch

from lstm.checkpoint import CheckpointWriter
from lstm.models import build_model
from lstm.precision import make_scaler
from lstm.train import TrainConfig, make_optimizer, train_step

from .. import tracking
from ..space import load_space
from ..trial.checkpoints import Uploader
from .machine import free_port, wait_http
from .stack import Stack


def largest(space: str) -> tuple[TrainConfig, float]:
    """The space's largest configuration (each searched size at its top) and its checkpoint interval."""
    sp = load_space(space)
    top = {k: (d.high if hasattr(d, "high") else max(d.choices)) for k, d in sp.distributions.items()}
    cfg = TrainConfig(**sp.train_config(top, seed=0))
    return cfg, sp.checkpoint_minutes


def steps(model, opt, scaler, batch, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        train_step(model, opt, scaler, batch)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m flows.ops.checkpoint_cost", description=__doc__.splitlines()[0])
    p.add_argument("--space", default="wide", help="search space whose largest model is measured (default: wide)")
    p.add_argument("--vocab", type=int, default=3000, help="vocabulary size (default: 3000, about MAESTRO's)")
    p.add_argument("--batch-size", type=int, default=16, help="windows a step (default: 16; small for a CPU)")
    p.add_argument("--steps", type=int, default=4, help="steps per timed block (default: 4)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default: 3)")
    args = p.parse_args(argv)

    cfg, minutes = largest(args.space)
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = build_model(cfg.model_config, args.vocab).to(dev)
    opt, scaler = make_optimizer(cfg, model), make_scaler(dev)
    batch = torch.randint(1, args.vocab, (args.batch_size, cfg.seq_len + 1), device=dev)
    steps(model, opt, scaler, batch, 2)  # the optimizer's state exists, as in a checkpoint after step one

    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(Path(tmp), mlflow_port=free_port())
        stack.start_mlflow()
        try:
            wait_http(f"{stack.mlflow_uri}/health", 120, Path(tmp) / "logs" / "mlflow-server.log")
            os.environ["MLFLOW_TRACKING_URI"] = stack.mlflow_uri
            run_id = tracking.client().create_run(tracking.experiment_id("checkpoint-cost")).info.run_id
            uploads = Uploader(run_id, logging.getLogger("checkpoint_cost"))
            state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 1, "history": [],
                     "best": {"model": model.state_dict()}, "partial": None}
            plain, loaded, writes = [], [], []
            for _ in range(args.rounds):
                plain.append(steps(model, opt, scaler, batch, args.steps))
                with CheckpointWriter(after=uploads) as writer:
                    t0 = time.perf_counter()
                    writer.save(state, Path(tmp) / "checkpoint.pt")  # training goes on meanwhile
                    loaded.append(steps(model, opt, scaler, batch, args.steps))
                    writer.wait()
                    writes.append(time.perf_counter() - t0)
        finally:
            stack.stop("mlflow-server")
    extra = min(loaded) - min(plain)
    print(f"space {args.space}: largest model {cfg.model_config}, vocabulary {args.vocab}, on {dev}")
    print(f"checkpoint {uploads.megabytes:.0f} MB; write and upload {min(writes):.2f} s, of it upload "
          f"{uploads.seconds / max(uploads.uploads, 1):.2f} s ({uploads.uploads} uploads)")
    if min(loaded) < min(writes):
        print("note: the timed steps ended before the upload; raise --steps to cover it")
    print(f"{args.steps} steps: {min(plain):.2f} s alone, {min(loaded):.2f} s beside a write and upload "
          f"(+{extra:.2f} s)")
    print(f"slowdown of an epoch that uploads every {minutes:g} min: {100 * max(extra, 0) / (minutes * 60):.2f} %")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
