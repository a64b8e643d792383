"""One yardstick for every model: the same targets whatever the seq_len, and the champion gate on them."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from flows import names
from flows.sweep.registry import decide_alias
from lstm.data.targets import CONTEXT, files_without_targets, target_counts
from lstm.data.windows import Targets, load_split, load_vocab
from lstm.evaluate import evaluate_split
from lstm.models import build_model
from lstm.train import TrainConfig, train


def plain_targets(lengths: list[int], seq_len: int) -> list[tuple[int, int]]:
    """(token index, context) of every target, listed the plain way."""
    out, start = [], 0
    for n in lengths:
        out += [(start + pos, min(seq_len, pos)) for pos in range(CONTEXT, n)]
        start += n
    return out


@pytest.mark.parametrize("seq_len", [1, 32, CONTEXT, 130])
def test_targets_are_the_tokens_with_context_tokens_before_them(seq_len):
    lengths = [150, 50, CONTEXT + 1, 0, CONTEXT, 230]  # files of CONTEXT tokens or fewer have none
    offsets = np.cumsum([0, *lengths])
    targets = Targets(torch.from_numpy(offsets), seq_len)
    want = plain_targets(lengths, seq_len)
    assert len(targets) == len(want) == target_counts(offsets).sum() and files_without_targets(offsets) == 3
    index, context = targets.at(targets.ranks())
    assert list(zip(index.tolist(), context.tolist())) == want
    # a cap takes evenly spaced ones, the first and the last included
    capped = targets.at(targets.ranks(7))[0].tolist()
    assert len(capped) == 7 and set(capped) <= {i for i, _ in want}
    assert capped[0] == want[0][0] and capped[-1] == want[-1][0]
    assert len(Targets(torch.tensor([0, 40]), seq_len)) == 0


def plain_scores(model, tokens: torch.Tensor, lengths: list[int], seq_len: int) -> tuple[int, float]:
    """Hits and summed loss, one target at a time from the min(seq_len, position) tokens before it."""
    hits, loss = 0, 0.0
    with torch.inference_mode():
        for i, c in plain_targets(lengths, seq_len):
            logits = model.next_logits(tokens[i - c:i][None].long()).float()
            hits += int(logits.argmax(-1).item() == tokens[i].item())
            loss += float(F.cross_entropy(logits, tokens[i:i + 1].long(), reduction="sum"))
    return hits, loss


@pytest.mark.parametrize("kind, seq_len", [("embed", 32), ("embed", 130), ("seed", 130)])
def test_every_seq_len_is_scored_on_the_same_targets_as_the_plain_way(prepared, kind, seq_len):
    """Past CONTEXT, a target near a file's start is seen from the tokens it has: fewer than seq_len."""
    manifest = json.loads((prepared / "manifest.json").read_text())["splits"]["test"]
    torch.manual_seed(0)
    cfg = TrainConfig(model=kind, hidden_sizes=[16] * (3 if kind == "seed" else 1), embed_dim=8, seq_len=seq_len)
    model = build_model(cfg.model_config, len(load_vocab(prepared))).eval()
    split = load_split(prepared, "test", seq_len)
    scored = evaluate_split(model, split, batch_size=256, keep_predictions=True)
    assert scored["targets"] == manifest["targets"] == len(scored["truth"]) == len(scored["predictions"])
    lengths = np.diff(split.offsets.numpy()).tolist()
    hits, loss = plain_scores(model, split.tokens, lengths, seq_len)
    n = scored["targets"]
    assert scored["accuracy"] == pytest.approx(hits / n, abs=1.5 / n)  # one near-tie may flip
    assert scored["loss"] == pytest.approx(loss / n, rel=1e-4)
    assert sorted(scored["truth"]) == sorted(split.tokens[[i for i, _ in plain_targets(lengths, seq_len)]].tolist())
    # each kept prediction stands beside its own target: together they give the accuracy back
    assert sum(p == t for p, t in zip(scored["predictions"], scored["truth"])) == round(scored["accuracy"] * n)


def test_a_seq_len_32_and_a_seq_len_100_model_meet_at_the_champion_gate(prepared, tmp_path):
    cfg = dict(model="embed", hidden_sizes=[16], embed_dim=8, batch_size=32, epochs=1, windows_per_epoch=64, seed=1)
    short, long = (train(prepared, tmp_path / f"L{n}", TrainConfig(**cfg, seq_len=n), device="cpu") for n in (32, 100))
    splits = json.loads((prepared / "manifest.json").read_text())["splits"]
    assert short["val_targets"] == long["val_targets"] == splits["validation"]["targets"] > 0
    assert short["test_targets"] == long["test_targets"] == splits["test"]["targets"]
    assert short["baselines"] == long["baselines"]
    # the seq_len-32 model is the champion; the seq_len-100 one is judged on its validation accuracy
    tags = {names.DATA_HASH: short["data_hash"], names.VAL_ACCURACY: f"{short['val_accuracy']:.6f}",
            names.VAL_TARGETS: str(short["val_targets"])}
    alias, reason = decide_alias("1", tags, "2", long["val_accuracy"], long["data_hash"], long["val_targets"])
    assert "val_accuracy" in reason
    assert alias == (names.CHAMPION if long["val_accuracy"] > float(tags[names.VAL_ACCURACY]) else names.CHALLENGER)
