"""`lstm bench --profile`: where one of our training steps' time goes, from torch.profiler.

- step: wall time of a profiled step, divided over the profiled steps (the profiler's own overhead is in it,
  so it is a little above the timed figure of the training section);
- device: on CUDA, the time the GPU ran kernels and copies (the union of their intervals, so that two streams
  are not counted twice); on the CPU, the time inside the outermost ATen operators (there the host is the
  device);
- host and launch: the rest, the time the device waited for Python, the dispatcher and kernel launches. A
  large share says the step is launch-bound (a CUDA graph or torch.compile would help), a small one that the
  kernels themselves set the pace (bf16, larger batches);
- top ops: the operators with the most self time (device time on CUDA, CPU time on the CPU).
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import torch
from torch.autograd import DeviceType

from lstm.data.windows import load_split, load_vocab

from .train import bench_model, ours_optimizer, ours_step, sync


def busy_us(intervals: list[tuple[float, float]]) -> float:
    """The length of the union of (start, end) intervals."""
    total, end = 0.0, float("-inf")
    for s, e in sorted(intervals):
        if e > end:
            total += e - max(s, end)
            end = e
    return total


def device_us(events, cuda: bool) -> float:
    if cuda:
        spans = [(e.time_range.start, e.time_range.end) for e in events if e.device_type != DeviceType.CPU]
    else:
        spans = [(e.time_range.start, e.time_range.end) for e in events
                 if e.device_type == DeviceType.CPU and e.cpu_parent is None and not e.is_user_annotation]
    return busy_us(spans)


def profile_ours(data: Path, cfg, device: torch.device, steps: int = 3, warmup: int = 2, top: int = 12) -> dict:
    """torch.profiler over `steps` of our training steps (after `warmup` unprofiled ones)."""
    from torch.profiler import ProfilerActivity, profile

    cuda = device.type == "cuda"
    split = load_split(data, "train", cfg.seq_len, device)
    torch.manual_seed(0)
    model = bench_model("ours", len(load_vocab(data)), cfg.hidden_size, cfg.num_layers,
                        cfg.embed_dim).to(device).train()
    step = ours_step(model, ours_optimizer(model), split, cfg.batch_size)
    for _ in range(warmup):  # cuDNN's algorithm search and the allocator's pools are not a step's cost
        step()
    sync(device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the profiler's note that it clears events after each cycle
        with profile(activities=activities) as prof:
            t0 = time.perf_counter()
            for _ in range(steps):
                step()
            sync(device)
            wall_us = (time.perf_counter() - t0) * 1e6
        events, averages = prof.events(), prof.key_averages()
    dev_us = min(device_us(events, cuda), wall_us)
    key = "self_device_time_total" if cuda else "self_cpu_time_total"
    ops = sorted((a for a in averages if a.device_type == DeviceType.CPU), key=lambda a: getattr(a, key),
                 reverse=True)
    total = sum(getattr(a, key) for a in ops) or 1.0
    return {"device": device.type, "steps": steps, "batch_size": cfg.batch_size,
            "step_ms": wall_us / steps / 1000, "device_ms": dev_us / steps / 1000,
            "host_ms": (wall_us - dev_us) / steps / 1000, "device_share": dev_us / wall_us,
            "device_is": "GPU kernels and copies" if cuda else "ATen operators (outermost)",
            "top": [{"op": a.key, "calls_per_step": a.count / steps, "self_ms_per_step": getattr(a, key) / 1000 / steps,
                     "share": getattr(a, key) / total} for a in ops[:top]]}


def render(p: dict) -> list[str]:
    kind = "self device time" if p["device"] == "cuda" else "self CPU time"
    out = [f"Profile of our training step (torch.profiler, {p['steps']} steps of batch {p['batch_size']} on "
           f"{p['device']}, after warm-up; the profiler's overhead included)",
           f"  {'step':<38}{p['step_ms']:>10.2f} ms",
           f"  {'device: ' + p['device_is']:<38}{p['device_ms']:>10.2f} ms  {p['device_share']:>6.1%}",
           f"  {'host and launch (the rest)':<38}{p['host_ms']:>10.2f} ms  {1 - p['device_share']:>6.1%}",
           f"  top operators by {kind}:  share   ms/step  calls/step"]
    out += [f"    {t['op'][:60]:<60}{t['share']:>7.1%}{t['self_ms_per_step']:>10.2f}{t['calls_per_step']:>11.1f}"
            for t in p["top"]]
    return out
