"""`lstm bench`: the figures as a plain-text table, targets next to what was measured."""

from __future__ import annotations

from lstm.seed import SEED


def _met(ok: bool | None) -> str:
    return "" if ok is None else ("met" if ok else "NOT met")


def _n(x: float, digits: int = 0) -> str:
    return f"{x:,.{digits}f}"


def header(r: dict) -> list[str]:
    m, c, d = r["machine"], r["config"], r["data"]
    load = m.get("load_average")
    end = m.get("load_average_end")
    dev = m["device"] if not m["cuda_device"] else f"cuda: {m['cuda_device']} (CUDA {m['cuda']}, cuDNN {m['cudnn']})"
    return [
        f"lstm bench  {m['date']}",
        f"machine  {m['platform']} | {m['cpu']} | {m['cores']} cores ({m['usable_cores']} usable), "
        f"{m['memory_gib']} GiB" + (f" | load average {load[0]:.1f} at start" if load else "")
        + (f", {end[0]:.1f} at end" if end else ""),
        f"device   {dev} | torch {m['torch']}, {m['torch_threads']} CPU threads | python {m['python']}",
        f"data     {'the embedded dataset, prepared in ' if d.get('embedded') else ''}{d['prepared']}: vocabulary {d['vocab_size']}, {_n(d['train_tokens'])} train tokens, "
        f"seq_len {d['seq_len']}",
        f"models   {c['num_layers']} LSTM layers x {c['hidden_size']} units. seed-style: SeedLSTM (1 float a step, "
        f"Dense {SEED.dense_size}, SGD, fp32); ours: EmbedLSTM (embedding {c['embed_dim']}, AdamW, "
        f"{r['training']['ours']['precision']})",
    ]


def preprocessing(r: dict) -> list[str]:
    if "preprocessing" not in r:
        return [f"Preprocessing: skipped: {r.get('preprocessing_skipped', '')}"]
    p, met, t = r["preprocessing"], r["targets_met"], r["targets"]
    s, cold, warm = p["seed"], p["cold"], p["warm"]
    rows = [("seed: music21 serial, 1 process", s, 1.0, ""),
            (f"ours: lstm prepare cold ({cold['workers']} workers)", cold, p["cold_vs_seed"],
             f"speed-up >= {t['prep_cold_vs_seed']:.0f}x: {_met(met['prep_cold_vs_seed'])}"
             + (f" ({cold['workers']} cores)" if cold["workers"] < 20 else "")),
            ("ours: lstm prepare warm (same cache)", warm, p["warm_vs_seed"],
             f"<= {t['prep_warm_seconds']:.0f} s: {_met(met['prep_warm_seconds'])}")]
    out = [f"Preprocessing: {s['files']} MIDI files, {_n(s['notes'])} notes (notes = tokens: one note or one chord "
           "each); speed-up = seed seconds / these seconds",
           f"  {'path':<42}{'seconds':>9}{'files/s':>10}{'notes/s':>11}{'speed-up':>10}   target"]
    for name, f, ratio, target in rows:
        out.append(f"  {name:<42}{f['seconds']:>9.2f}{f['files_per_s']:>10.1f}{_n(f['notes_per_s']):>11}"
                   f"{ratio:>9.2f}x   {target}")
    if "fast_reader" in p:
        a = p["fast_reader"]
        out.append(f"  fast reader: {a['read_fast']} of {a['files']} files (music21 for the rest); tokens identical "
                   f"to music21's on {a['identical']} of {a['read_fast']}"
                   + (f"; DIFFERENT: {', '.join(a['different'][:5])}" if a["different"] else ""))
        out += [f"    music21 for {n}: {why}" for why, n in cold.get("fast_declined", {}).items()]
    return out


def training(r: dict) -> list[str]:
    t, c, met, tg = r["training"], r["config"], r["targets_met"], r["targets"]
    s, o = t["seed"], t["ours"]
    if "gpu_targets_per_s" in met:
        target = (f"ours >= {_n(tg['gpu_targets_per_s'])} targets/s (GPU, {SEED.num_layers}x{SEED.hidden_size}): "
                  f"{_met(met['gpu_targets_per_s'])}")
    else:
        target = f"ours/seed targets/s >= {tg['cpu_training_vs_seed']:.0f}x (CPU): {_met(met['cpu_training_vs_seed'])}"
    out = [f"Training throughput: timed optimizer steps after warm-up steps. A window = {c['seq_len']} input tokens;"
           " a target = one next token the loss is computed on",
           "  (seed-style: the last position only, 1 target a window; ours: every position, "
           f"{c['seq_len']} targets a window)",
           f"  {'loop':<48}{'batch':>6}{'steps':>6}{'seconds':>9}{'windows/s':>11}{'targets/s':>12}{'set-up s':>10}"]
    for name, f in (("seed-style: host windows, DataLoader, last step", s),
                    ("ours: Split on the device, every position", o)):
        out.append(f"  {name:<48}{f['batch_size']:>6}{f['steps']:>6}{f['seconds']:>9.2f}"
                   f"{_n(f['windows_per_s'], 1):>11}{_n(f['targets_per_s']):>12}{f['setup_seconds']:>10.3f}")
    out.append(f"  {'ours / seed':<48}{'':>21}{t['windows_per_s_ratio']:>10.2f}x{t['targets_per_s_ratio']:>11.1f}x"
               f"   target: {target}")
    return out


def evaluation(r: dict) -> list[str]:
    e = r["evaluation"]
    out = [f"Evaluation: evaluate_split under inference_mode on the {e['ours']['split']} split; 1 target a window "
           "(the token after it)",
           f"  {'model':<48}{'batch':>6}{'windows':>9}{'seconds':>9}{'targets/s':>12}"]
    for name, f in (("seed-style model (SeedLSTM)", e["seed"]), ("ours (EmbedLSTM)", e["ours"])):
        out.append(f"  {name:<48}{f['batch_size']:>6}{f['windows']:>9}{f['seconds']:>9.2f}{_n(f['targets_per_s']):>12}")
    out.append(f"  {'ours / seed':<48}{'':>24}{e['targets_per_s_ratio']:>11.2f}x")
    return out


def memory(r: dict) -> list[str]:
    m, met, tg = r["memory"], r["targets_met"], r["targets"]
    s, o = m["seed"], m["ours"]
    out = [f"Host memory a token: a fresh process a path; peak RSS growth over data set-up + {o['steps']} training "
           f"steps, / {_n(m['tokens'])} train tokens",
           f"  (the train split tiled x{m['tiles']}; LSTM {o['hidden_size']} units here: the model is not per token)"
           if m["tiles"] > 1 else f"  ({m['files']} train files; LSTM {o['hidden_size']} units here)",
           f"  {'path':<48}{'peak growth':>13}{'bytes/token':>13}{'resident':>10}{'set-up s':>10}   target"]
    for name, f, target in (("seed-style: every window materialized", s, ""),
                            ("ours: load_split (tokens + window starts)", o,
                             f"<= {tg['ours_bytes_per_token']:.0f} B/token: {_met(met['ours_bytes_per_token'])}")):
        out.append(f"  {name:<48}{f['peak_rss_growth'] / 2**20:>10.1f} MB{f['bytes_per_token']:>13.1f}"
                   f"{f['resident_bytes_per_token']:>10.1f}{f['setup_seconds']:>10.3f}   {target}")
    ratio = m["seed_vs_ours"]
    out.append(f"  {'seed / ours':<48}{'':>13}{(f'{ratio:.1f}x' if ratio else 'n/a'):>13}"
               f"   (resident: bytes/token of the arrays kept, ours on {o['resident_on']})")
    return out


def render(r: dict) -> str:
    blocks = [header(r), preprocessing(r), training(r), evaluation(r), memory(r)]
    if "profile" in r:
        from .profile import render as render_profile

        blocks.append(render_profile(r["profile"]))
    return "\n\n".join("\n".join(b) for b in blocks)
