"""Metrics of a trained model: the seed's top-1 next-token accuracy on every split, next to baselines.

Every model is scored on the same targets whatever its seq_len: the tokens with at least CONTEXT (100)
tokens before them in their file (lstm/data/targets.py), each predicted from at most seq_len tokens
before it. Unknown tokens in validation/test stay targets: no model gets them right.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from lstm.data.manifest import load_manifest
from lstm.data.windows import Split, load_split, load_vocab

from .baselines import data_baselines
from .metrics import Evaluation
from .pitch_classes import class_histograms, write_histogram
from .precision import amp_context

# Train accuracy on an evenly spaced subset past this: it shows how far training fits (against validation);
# ±0.3 points at 10,000 targets is enough for that, and full MAESTRO has millions (minutes on a CPU).
TRAIN_EVAL_TARGETS = 10_000


def evaluate_split(model: nn.Module, split: Split, batch_size: int = 512, max_targets: int = 0,
                   keep_predictions: bool = False) -> dict:
    """Loss and accuracies on the split's targets (the yardstick), or on `max_targets` evenly spaced ones.

    keep_predictions: also the top-1 prediction and the true token of each, in one (scoring) order."""
    dev = split.tokens.device
    scored = split.scored()
    index, context = scored.at(scored.ranks(max_targets))
    if len(context) and bool((context != split.seq_len).any()):  # seq_len > CONTEXT: early targets see fewer
        order = torch.sort(context, descending=True, stable=True).indices
        index, context = index[order], context[order]
    lengths, counts = torch.unique_consecutive(context, return_counts=True)
    was_training = model.training
    model.eval()
    loss, hit1, hit5, done = torch.zeros((), device=dev), 0, 0, 0
    # Filled in place: a list of per-batch tensors kept each batch's allocation alive among the freed logits,
    # and the heap grew by ~4 kB a target (1.3 GB for 300 k test targets on a MAESTRO-size vocabulary).
    preds = torch.empty(len(index) if keep_predictions else 0, dtype=torch.long)
    truth = torch.empty_like(preds)
    with torch.inference_mode(), amp_context(dev):
        for length, group in zip(lengths.tolist(), index.split(counts.tolist())):
            for idx in group.split(batch_size):
                batch = split.gather(idx - length, length + 1)
                logits = model.next_logits(batch[:, :-1]).float()
                target = batch[:, -1]
                loss += F.cross_entropy(logits, target, reduction="sum")
                top5 = logits.topk(min(5, logits.shape[-1]), dim=-1).indices
                hit1 += int((top5[:, 0] == target).sum())
                hit5 += int((top5 == target[:, None]).any(-1).sum())
                if keep_predictions:
                    preds[done:done + len(idx)] = top5[:, 0]
                    truth[done:done + len(idx)] = target
                    done += len(idx)
    model.train(was_training)
    n = len(index)
    out = {"targets": n, "loss": float(loss) / n if n else float("nan"),
           "accuracy": hit1 / n if n else 0.0, "top5_accuracy": hit5 / n if n else 0.0}
    if keep_predictions:
        out["predictions"], out["truth"] = preds.tolist(), truth.tolist()
    return out


def evaluate_run(run: str | Path, data: str | Path, device: str = "cpu", model: nn.Module | None = None,
                 batch_size: int = 512, splits: dict[str, Split] | None = None,
                 out: str | Path | None = None) -> Evaluation:
    """Every metric of metrics.json, plus gd_histogram.{json,html} written into `out` (default RUN).

    RUN: a run directory, or a model.pt. `splits`: the splits training already loaded (by name), so a
    trial reads its arrays once."""
    from .checkpoint import load_model

    run, data = Path(run), Path(data)
    out = Path(out) if out is not None else run
    if model is None:
        model, saved = load_model(run, device)
        seq_len = saved["config"]["seq_len"]
    else:
        import json

        seq_len = json.loads((run / "config.json").read_text())["seq_len"]
    dev = next(model.parameters()).device
    vocab, manifest = load_vocab(data), load_manifest(data)
    loaded = splits or {}  # a Split with no window is falsy (len 0): test membership, not truth
    splits = {s: loaded[s] if s in loaded else load_split(data, s, seq_len, dev) for s in ("train", "validation", "test")}
    train = evaluate_split(model, splits["train"], batch_size, max_targets=TRAIN_EVAL_TARGETS)
    val = evaluate_split(model, splits["validation"], batch_size)
    test = evaluate_split(model, splits["test"], batch_size, keep_predictions=True)

    baselines = data_baselines(data, manifest)  # on the same targets; from manifest.json when it has them
    hist = class_histograms(test.pop("predictions"), test.pop("truth"), vocab)
    write_histogram(hist, out)
    return Evaluation(
        train_accuracy=train["accuracy"], train_accuracy_targets=train["targets"],
        val_accuracy=val["accuracy"], val_loss=val["loss"], val_targets=val["targets"],
        test_accuracy=test["accuracy"], test_top5_accuracy=test["top5_accuracy"],
        test_loss=test["loss"], test_perplexity=math.exp(min(test["loss"], 50)),
        test_targets=test["targets"], seq_len=seq_len, vocab_size=len(vocab),
        data_hash=manifest.input_hash, baselines=baselines["test"], val_baselines=baselines["validation"],
        error_analysis=hist,
    )
