"""Metrics of a trained model: the seed's top-1 next-token accuracy on every split, next to baselines.

A target is the token at position >= seq_len of a file, predicted from the seq_len tokens before it
(one per window). Unknown tokens in validation/test stay targets: no model gets them right.
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
# ±0.3 points at 10,000 windows is enough for that, and full MAESTRO has millions (minutes on a CPU).
TRAIN_EVAL_WINDOWS = 10_000


def evaluate_split(model: nn.Module, split: Split, batch_size: int = 512, max_windows: int = 0,
                   keep_predictions: bool = False) -> dict:
    dev = split.tokens.device
    starts = split.starts
    if max_windows and len(starts) > max_windows:
        starts = starts[torch.linspace(0, len(starts) - 1, max_windows, device=dev).long()]
    was_training = model.training
    model.eval()
    loss, hit1, hit5, preds = torch.zeros((), device=dev), 0, 0, []
    with torch.inference_mode(), amp_context(dev):
        for idx in starts.split(batch_size):
            batch = split.batch(idx)
            logits = model.next_logits(batch[:, :-1]).float()
            target = batch[:, -1]
            loss += F.cross_entropy(logits, target, reduction="sum")
            top5 = logits.topk(min(5, logits.shape[-1]), dim=-1).indices
            hit1 += int((top5[:, 0] == target).sum())
            hit5 += int((top5 == target[:, None]).any(-1).sum())
            if keep_predictions:
                preds.append(top5[:, 0].cpu())
    model.train(was_training)
    n = len(starts)
    out = {"windows": n, "loss": float(loss) / n if n else float("nan"),
           "accuracy": hit1 / n if n else 0.0, "top5_accuracy": hit5 / n if n else 0.0}
    if keep_predictions:
        out["predictions"] = torch.cat(preds).tolist() if preds else []
    return out


def evaluate_run(run: str | Path, data: str | Path, device: str = "cpu", model: nn.Module | None = None,
                 batch_size: int = 512, splits: dict[str, Split] | None = None) -> Evaluation:
    """Every metric of metrics.json, plus gd_histogram.{json,html} written into RUN.

    `splits`: the splits training already loaded (by name), so a trial reads its arrays once."""
    from .checkpoint import load_model

    run, data = Path(run), Path(data)
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
    train = evaluate_split(model, splits["train"], batch_size, max_windows=TRAIN_EVAL_WINDOWS)
    val = evaluate_split(model, splits["validation"], batch_size)
    test = evaluate_split(model, splits["test"], batch_size, keep_predictions=True)

    baselines = data_baselines(data, manifest, seq_len)  # from manifest.json when prepared for this seq_len
    hist = class_histograms(test.pop("predictions"), splits["test"].targets().tolist(), vocab)
    write_histogram(hist, run)
    return Evaluation(
        train_accuracy=train["accuracy"], train_accuracy_windows=train["windows"],
        val_accuracy=val["accuracy"], val_loss=val["loss"],
        test_accuracy=test["accuracy"], test_top5_accuracy=test["top5_accuracy"],
        test_loss=test["loss"], test_perplexity=math.exp(min(test["loss"], 50)),
        test_windows=test["windows"], seq_len=seq_len, vocab_size=len(vocab),
        data_hash=manifest.input_hash, baselines=baselines["test"], val_baselines=baselines["validation"],
        error_analysis=hist,
    )
