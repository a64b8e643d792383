"""`lstm bench`: host memory a token, each data path measured in its own fresh process.

A child first builds its model and optimizer and runs warm-up steps on a synthetic batch of the same
shape, so that the model, optimizer state, activations and allocator pools are already in its peak
RSS. Then it sets up the data (ours: `load_split`; seed-style: every window materialized) and runs
training steps on it. The growth of peak RSS (ru_maxrss) over that, ÷ train tokens, is the host cost
of a token. The train split is tiled (or cut at a file boundary) to about `tokens` tokens first, so
that the growth stands clear of allocator noise.

Run as `python -m lstm.bench.memory {seed,ours} DATA ...`; prints one JSON line.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

WARMUP_STEPS = 3  # on a synthetic batch, before the peak is read


def max_rss_bytes() -> int:
    """Peak RSS of this process's own address space. Not ru_maxrss alone on Linux: it survives execve, so
    a child forked from a larger parent starts at the parent's peak and would show no growth at all."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024  # Linux reports kB


def sized_split(data: Path, out: Path, tokens: int) -> dict:
    """Write OUT/train_{tokens,offsets}.npy + vocab.json: DATA's train split tiled or cut to ~`tokens`."""
    toks, offs = np.load(data / "train_tokens.npy"), np.load(data / "train_offsets.npy")
    if toks.size >= tokens:
        files = max(1, int(np.searchsorted(offs, tokens, side="left")))
        offs = offs[:files + 1]
        toks, tiles = toks[:offs[-1]], 1
    else:
        tiles = math.ceil(tokens / toks.size)
        offs = np.concatenate([offs[:-1] + k * toks.size for k in range(tiles)] + [[tiles * toks.size]])
        toks = np.tile(toks, tiles)
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "train_tokens.npy", toks)
    np.save(out / "train_offsets.npy", offs.astype(np.int64))
    shutil.copy(data / "vocab.json", out / "vocab.json")
    return {"tokens": int(toks.size), "files": int(len(offs) - 1), "tiles": tiles}


def run_child(path: str, data: Path, cfg, device: str) -> dict:
    cmd = [sys.executable, "-m", "lstm.bench.memory", path, str(data), "--device", device,
           "--seq-len", str(cfg.seq_len), "--hidden-size", str(cfg.memory_hidden_size),
           "--num-layers", str(cfg.num_layers), "--embed-dim", str(cfg.embed_dim),
           "--batch-size", str(cfg.seed_batch_size if path == "seed" else cfg.memory_batch_size),
           "--steps", str(cfg.memory_steps)]
    # glibc: a fixed mmap threshold (128 KiB) turns off its dynamic threshold, so freed large blocks go back
    # to the OS and the peak RSS follows live memory instead of whatever the allocator kept from warm-up.
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"memory child {path} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_memory(data: Path, work: Path, cfg, device: str) -> dict:
    sized = sized_split(data, work / "memory-data", cfg.memory_tokens)
    seed, ours = (run_child(p, work / "memory-data", cfg, device) for p in ("seed", "ours"))
    return {"method": "peak RSS growth (VmHWM, else ru_maxrss) over data set-up + training steps, in a fresh "
                      f"process each (glibc MALLOC_MMAP_THRESHOLD_=131072), after {WARMUP_STEPS} warm-up steps "
                      "on a synthetic batch; / train tokens",
            **sized, "seed": seed, "ours": ours,
            "seed_vs_ours": seed["bytes_per_token"] / ours["bytes_per_token"] if ours["bytes_per_token"] else None}


def _child(path: str, data: Path, device: str, seq_len: int, hidden: int, layers: int, embed: int,
           batch_size: int, steps: int) -> dict:
    import torch

    from lstm.data.windows import Split, load_split, load_vocab

    from .seed_loop import endless, materialize_windows, seed_loader, seed_optimizer, seed_step
    from .train import bench_model, ours_optimizer, ours_step, sync

    dev = torch.device(device)
    vocab_size = len(load_vocab(data))
    n_tokens = int(np.load(data / "train_tokens.npy", mmap_mode="r").size)  # reads the header only
    torch.manual_seed(0)
    fake = torch.randint(vocab_size, (batch_size + seq_len + 1,), device=dev, dtype=torch.int16)
    model = bench_model(path, vocab_size, hidden, layers, embed).to(dev).train()
    if path == "seed":
        opt = seed_optimizer(model)
        fake_batches = itertools.repeat((torch.randn(batch_size, seq_len), torch.randint(vocab_size, (batch_size,))))
        warm = seed_step(model, opt, fake_batches, dev)
    else:
        opt = ours_optimizer(model)
        warm = ours_step(model, opt, Split(fake, torch.arange(batch_size, device=dev), seq_len,
                                                torch.tensor([0, len(fake)], device=dev)), batch_size)
    for _ in range(WARMUP_STEPS):
        warm()
    sync(dev)
    before = max_rss_bytes()

    t0 = time.perf_counter()
    if path == "seed":
        inputs, targets = materialize_windows(np.load(data / "train_tokens.npy"),
                                              np.load(data / "train_offsets.npy"), seq_len)
        step = seed_step(model, opt, endless(seed_loader(inputs, targets, batch_size)), dev)
        resident = inputs.nbytes + targets.nbytes
    else:
        split = load_split(data, "train", seq_len, dev)
        step = ours_step(model, opt, split, batch_size)
        resident = split.tokens.nbytes + split.starts.nbytes
    sync(dev)
    setup = time.perf_counter() - t0
    for _ in range(steps):
        step()
    sync(dev)
    growth = max_rss_bytes() - before
    return {"peak_rss_before": before, "peak_rss_growth": growth, "tokens": n_tokens,
            "bytes_per_token": growth / n_tokens, "resident_bytes_per_token": resident / n_tokens,
            "resident_on": "host" if path == "seed" or dev.type == "cpu" else dev.type,
            "setup_seconds": setup, "steps": steps, "batch_size": batch_size, "hidden_size": hidden}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m lstm.bench.memory")
    p.add_argument("path", choices=["seed", "ours"])
    p.add_argument("data", type=Path)
    p.add_argument("--device", default="cpu")
    p.add_argument("--seq-len", type=int, default=100)
    p.add_argument("--hidden-size", type=int, default=64)
    p.add_argument("--num-layers", type=int, default=3)
    p.add_argument("--embed-dim", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=2)
    a = p.parse_args(argv)
    print(json.dumps(_child(a.path, a.data, a.device, a.seq_len, a.hidden_size, a.num_layers, a.embed_dim,
                            a.batch_size, a.steps)))


if __name__ == "__main__":
    main()
