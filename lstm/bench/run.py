"""`lstm bench`: the seed's way next to ours, in one invocation, on one machine, data set and model size.

Sections: preprocessing (lstm.bench.prep), training and evaluation throughput (lstm.bench.train, seed_loop)
and host memory a token (lstm.bench.memory). Prints a table with the targets next to the figures, and writes
the same figures as JSON with --json. Targets are reported, never enforced.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from lstm.seed import SEED

TARGETS = {"cpu_training_vs_seed": 50.0, "gpu_targets_per_s": 1_000_000.0, "prep_cold_vs_seed": 20.0,
           "prep_warm_seconds": 2.0, "ours_bytes_per_token": 16.0}


@dataclass
class BenchConfig:
    hidden_size: int
    num_layers: int
    embed_dim: int
    seq_len: int
    batch_size: int
    steps: int
    warmup_steps: int
    seed_batch_size: int
    seed_steps: int
    seed_warmup_steps: int
    eval_batch_size: int
    eval_windows: int
    prep_files: int
    memory_tokens: int
    memory_hidden_size: int
    memory_batch_size: int
    memory_steps: int


def make_config(args, cuda: bool) -> BenchConfig:
    def pick(value, quick, cpu, gpu):
        return value if value is not None else quick if args.quick else gpu if cuda else cpu

    hidden = pick(args.hidden_size, 64, SEED.hidden_size, SEED.hidden_size)
    batch = pick(args.batch_size, 64, 256, 1024)
    return BenchConfig(hidden_size=hidden, num_layers=args.num_layers, embed_dim=128, seq_len=args.seq_len,
                       batch_size=batch, steps=pick(args.steps, 3, 3, 50),
                       warmup_steps=pick(args.warmup_steps, 1, 1, 10),
                       seed_batch_size=pick(args.seed_batch_size, 32, 64, 64),
                       seed_steps=pick(args.steps, 3, 3, 50), seed_warmup_steps=pick(args.warmup_steps, 1, 1, 10),
                       eval_batch_size=batch * 4 if cuda else batch,
                       eval_windows=pick(args.eval_windows, 128, 256, 65536),
                       prep_files=pick(args.prep_files, 6, 50, 50),
                       memory_tokens=pick(args.memory_tokens, 200_000, 1_000_000, 1_000_000),
                       memory_hidden_size=min(hidden, 128), memory_batch_size=min(batch, 256), memory_steps=2)


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="benchmark the seed's way against ours (preprocessing, training, memory)",
                       description="Measures, side by side in one run: preprocessing (the seed's serial music21 "
                                   "loop vs `lstm prepare` cold and warm), training and evaluation throughput "
                                   "(windows/s and next-token targets/s; the seed-style loop vs ours) and host "
                                   "bytes a token (a fresh process a path). Prints a table; --json writes it all.")
    p.add_argument("--data", type=Path, help="a directory written by `lstm prepare` (default: the embedded "
                                             "dataset, prepared into a temporary directory)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="auto: cuda when there is one (default %(default)s)")
    p.add_argument("--json", type=Path, dest="json_out", metavar="FILE",
                   help="also write the figures as JSON (default: the table only)")
    p.add_argument("--quick", action="store_true",
                   help="small sizes: the whole bench in well under a minute (default: off)")
    p.add_argument("--hidden-size", type=int,
                   help=f"LSTM units of each layer, both models (default {SEED.hidden_size}; quick 64)")
    p.add_argument("--num-layers", type=int, default=SEED.num_layers,
                   help=f"LSTM layers of ours (the seed's has {SEED.num_layers}; default %(default)s)")
    p.add_argument("--seq-len", type=int, default=100, help="window length (default %(default)s)")
    p.add_argument("--batch-size", type=int, help="our windows a step (default 1024 on CUDA, 256 on CPU)")
    p.add_argument("--seed-batch-size", type=int, help="the seed-style loop's windows a step (default 64)")
    p.add_argument("--steps", type=int, help="timed optimizer steps of each loop (default 50 CUDA, 3 CPU)")
    p.add_argument("--warmup-steps", type=int, help="untimed steps first (default 10 CUDA, 1 CPU)")
    p.add_argument("--eval-windows", type=int, help="train targets evaluated (0: all; default 256 CPU, 65,536 CUDA)")
    p.add_argument("--prep-files", type=int, help="MIDI files preprocessed (0: all; default 50)")
    p.add_argument("--memory-tokens", type=int, help="train tokens of the memory children (default 1,000,000)")
    p.add_argument("--workers", type=int, help="processes of `lstm prepare` (default: all cores)")
    p.add_argument("--profile", action="store_true",
                   help="also profile our training step (torch.profiler): step time, device time, host and "
                        "launch overhead, the top operators (default: off)")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(device) -> dict:
    import torch

    from lstm.data.parallel import default_workers

    cuda = device.type == "cuda"
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else 0
    return {"date": datetime.now(UTC).isoformat(timespec="seconds"), "platform": platform.platform(),
            "python": platform.python_version(), "cpu": cpu_model(), "cores": os.cpu_count(),
            "usable_cores": default_workers(), "memory_gib": round(mem / 2**30, 1),
            "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(), "device": device.type,
            "cuda_device": torch.cuda.get_device_name(device) if cuda else None,
            "cuda": torch.version.cuda if cuda else None,
            "cudnn": torch.backends.cudnn.version() if cuda else None}


def check_targets(r: dict) -> dict:
    """Each target next to the figure it is about, and whether the figure meets it."""
    cuda = r["machine"]["device"] == "cuda"
    out = {}
    if "preprocessing" in r:
        p = r["preprocessing"]
        out["prep_cold_vs_seed"] = p["cold_vs_seed"] >= TARGETS["prep_cold_vs_seed"]
        out["prep_warm_seconds"] = p["warm"]["seconds"] <= TARGETS["prep_warm_seconds"]
    t = r["training"]
    if cuda:
        out["gpu_targets_per_s"] = t["ours"]["targets_per_s"] >= TARGETS["gpu_targets_per_s"]
    else:
        out["cpu_training_vs_seed"] = t["targets_per_s_ratio"] >= TARGETS["cpu_training_vs_seed"]
    out["ours_bytes_per_token"] = r["memory"]["ours"]["bytes_per_token"] <= TARGETS["ours_bytes_per_token"]
    return out


def run_bench(args) -> dict:
    import torch

    from lstm.data.manifest import load_manifest
    from lstm.train import pick_device

    from .memory import bench_memory
    from .prep import run_child as bench_preprocessing
    from .profile import profile_ours
    from .train import bench_evaluation, bench_training

    device = pick_device(args.device)
    cfg = make_config(args, device.type == "cuda")
    with tempfile.TemporaryDirectory(prefix="lstm-bench-") as tmp:
        tmp = Path(tmp)
        data = args.data
        if data is None:
            from lstm.data.corpus import build_embedded, default_cache_dir
            from lstm.data.prepare import prepare

            data = tmp / "prepared"
            prepare(build_embedded(default_cache_dir(), args.workers), data, default_cache_dir(), args.workers,
                    cfg.seq_len)
        manifest = load_manifest(data)
        r = {"machine": machine_info(device), "config": asdict(cfg),
             "data": {"prepared": str(data), "embedded": args.data is None, "vocab_size": manifest.vocab_size, "seq_len": cfg.seq_len,
                      "train_tokens": manifest.splits["train"].tokens}}
        raw = Path(manifest.data_dir)
        if raw.is_dir():  # in a fresh process without torch, as `lstm prepare` runs
            r["preprocessing"] = bench_preprocessing(raw, manifest.max_duration, cfg.prep_files,
                                                     cfg.seq_len, args.workers)
        else:
            r["preprocessing_skipped"] = f"the MIDI directory {raw} of {data} is not on this machine"
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        training, models = bench_training(data, cfg, device)
        s, o = training["seed"], training["ours"]
        r["training"] = {"targets_are": "next tokens a loss is computed on: 1 a window (seed-style, last step "
                                        "only), seq_len a window (ours, every position)", **training,
                         "targets_per_s_ratio": o["targets_per_s"] / s["targets_per_s"],
                         "windows_per_s_ratio": o["windows_per_s"] / s["windows_per_s"]}
        e = bench_evaluation(data, models, cfg, device)
        r["evaluation"] = {**e, "targets_per_s_ratio": e["ours"]["targets_per_s"] / e["seed"]["targets_per_s"]}
        del models
        r["memory"] = bench_memory(data, tmp, cfg, device.type)
        if args.profile:
            r["profile"] = profile_ours(data, cfg, device)
    r["targets"] = TARGETS
    r["targets_met"] = check_targets(r)
    r["machine"]["load_average_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    return r


def run(args) -> None:
    from .report import render

    r = run_bench(args)
    print(render(r))
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(r, indent=2))
        print(f"wrote {args.json_out}")
