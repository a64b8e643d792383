"""A training configuration against the baselines at a budget a busy CPU affords, and the per-epoch
validation subset against the whole validation split.

`python -m lstm.bench.compare --data PREPARED [--windows 2048] [--epochs 6] [--targets 1500] [--full]
[--set lr=0.001 ...]` trains TrainConfig (defaults plus --set overrides) for `epochs` epochs of `windows`
windows (default: `lstm train`'s, a pass over the training tokens), scores validation on `targets` evenly
spaced targets (the yardstick's; default `lstm train`'s per-epoch subset) after each epoch, and the test
split's as many with the best and with the last epoch's weights, next to the n-gram baselines on exactly
those targets. --full also scores every validation target each epoch, beside the subset: whether the
subset's accuracy tracks the whole split's.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from lstm.baselines import BASELINES, NGrams, fit, hits
from lstm.data.windows import Split, load_split, load_vocab
from lstm.evaluate import evaluate_split
from lstm.models import build_model
from lstm.precision import make_scaler
from lstm.train import TrainConfig, epoch_windows, make_optimizer, train_epoch
from lstm.train_config import EPOCH_EVAL_TARGETS


def evenly(split: Split, n: int) -> torch.Tensor:
    """The token indices of n evenly spaced targets: the ones evaluate_split(max_targets=n) scores."""
    scored = split.scored()
    return scored.at(scored.ranks(n))[0]


def baselines_on(models: NGrams, split: Split, n: int) -> dict:
    rows = hits(models, split.tokens.numpy(), split.offsets.numpy())[evenly(split, n).numpy()]
    return {name: float(rows[:, j].mean()) for j, name in enumerate(BASELINES)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--windows", type=int, default=0, help="training windows an epoch (0: a pass, as lstm train)")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--targets", type=int, default=EPOCH_EVAL_TARGETS, help="validation and test targets scored")
    ap.add_argument("--full", action="store_true", help="also every validation target, each epoch")
    ap.add_argument("--set", nargs="*", default=[], help="TrainConfig overrides, KEY=JSON (lr=0.001)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)  # two processes on two shared cores run faster than one fighting itself
    over = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)}
    cfg = TrainConfig(**{"epochs": args.epochs, "windows_per_epoch": args.windows, **over})
    train_split = load_split(args.data, "train", cfg.seq_len)
    val, test = (load_split(args.data, s, cfg.seq_len) for s in ("validation", "test"))
    models = fit(np.load(f"{args.data}/train_tokens.npy"), np.load(f"{args.data}/train_offsets.npy"))
    n = args.targets
    print(f"baselines  val {baselines_on(models, val, n)}  test {baselines_on(models, test, n)}", flush=True)

    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model_config, len(load_vocab(args.data)))
    opt, scaler = make_optimizer(cfg, model), make_scaler(torch.device("cpu"))
    windows = epoch_windows(train_split, model.all_positions, cfg.windows_per_epoch)
    print(f"{windows} windows an epoch; validation: {min(n, len(val.scored()))} of {len(val.scored())} targets")
    best, best_state, last_val = (0, -1.0), None, 0.0
    for epoch in range(1, cfg.epochs + 1):
        t0 = time.perf_counter()
        loss = train_epoch(model, opt, scaler, train_split, cfg, epoch, windows)
        t1 = time.perf_counter()
        last_val = evaluate_split(model, val, 256, max_targets=n)["accuracy"]
        t2 = time.perf_counter()
        if last_val > best[1]:
            best, best_state = (epoch, last_val), {k: v.clone() for k, v in model.state_dict().items()}
        full = ""
        if args.full:
            whole = evaluate_split(model, val, 256)["accuracy"]
            full = f"  all {whole:.2%} (subset - all {100 * (last_val - whole):+.2f} points, {time.perf_counter() - t2:.0f}s)"
        print(f"epoch {epoch}: train_loss {loss:.3f} val {last_val:.2%}{full}  (train {t1 - t0:.0f}s, "
              f"subset {t2 - t1:.0f}s)", flush=True)
    last_test = evaluate_split(model, test, 256, max_targets=n)["accuracy"]
    model.load_state_dict(best_state)
    best_test = evaluate_split(model, test, 256, max_targets=n)["accuracy"]
    print(f"best epoch {best[0]}: val {best[1]:.2%} test {best_test:.2%}   "
          f"last epoch: val {last_val:.2%} test {last_test:.2%}")


if __name__ == "__main__":
    main()
