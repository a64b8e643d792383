"""Baselines on the same targets as the models: every accuracy we report stands next to these.

They depend only on the data and on `seq_len` (a target is every token at position >= seq_len of its
file), so `lstm prepare` computes them once per data set, for the validation and test targets of its
`--seq-len`, into manifest.json; evaluation reads them from there and recomputes only for a run whose
seq_len differs.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from lstm.data.vocab import UNKNOWN_ID

SCORED_SPLITS = ("validation", "test")


def _files(tokens: np.ndarray, offsets: np.ndarray):
    for a, b in zip(offsets[:-1], offsets[1:]):
        yield tokens[a:b].tolist()


class NGram:
    """Most frequent next token after the last `order - 1` tokens, backing off to shorter contexts
    and finally to the most frequent token. Counts come from the train split, within files."""

    def __init__(self, order: int, tokens: np.ndarray, offsets: np.ndarray):
        self.order = order
        counts: dict[tuple, Counter] = defaultdict(Counter)
        for seq in _files(tokens, offsets):
            for i, tok in enumerate(seq):
                for n in range(0, min(order - 1, i) + 1):
                    counts[tuple(seq[i - n:i])][tok] += 1
        self.best = {ctx: c.most_common(1)[0][0] for ctx, c in counts.items()}
        self.fallback = self.best.get((), UNKNOWN_ID)

    def predict(self, context: list[int]) -> int:
        for n in range(min(self.order - 1, len(context)), 0, -1):
            hit = self.best.get(tuple(context[-n:]))
            if hit is not None:
                return hit
        return self.fallback


def fit(train_tokens: np.ndarray, train_offsets: np.ndarray) -> dict[str, NGram]:
    return {"most_frequent": NGram(1, train_tokens, train_offsets),
            "bigram": NGram(2, train_tokens, train_offsets),
            "trigram": NGram(3, train_tokens, train_offsets)}


def score(models: dict[str, NGram], tokens: np.ndarray, offsets: np.ndarray, seq_len: int) -> dict:
    """Accuracy of each baseline over every window target (position >= seq_len in its file)."""
    hits, n = Counter(), 0
    for seq in _files(tokens, offsets):
        for i in range(seq_len, len(seq)):
            n += 1
            for name, model in models.items():
                hits[name] += model.predict(seq[i - 2:i]) == seq[i]
    return {name: (hits[name] / n if n else 0.0) for name in models}


def baseline_accuracies(train_tokens, train_offsets, tokens, offsets, seq_len: int) -> dict:
    """The baselines, fitted on train, on the targets of one split."""
    return score(fit(train_tokens, train_offsets), tokens, offsets, seq_len)


def _arrays(data: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    return np.load(data / f"{split}_tokens.npy", mmap_mode="r"), np.load(data / f"{split}_offsets.npy")


def split_baselines(data: str | Path, seq_len: int) -> dict:
    """{"seq_len", "validation": {...}, "test": {...}}: the baselines of a prepared directory's splits."""
    data = Path(data)
    models = fit(*_arrays(data, "train"))
    return {"seq_len": seq_len, **{s: score(models, *_arrays(data, s), seq_len) for s in SCORED_SPLITS}}


def data_baselines(data: str | Path, manifest: dict, seq_len: int) -> dict:
    """The manifest's baselines when they were computed for this seq_len (older manifests have none),
    else computed now."""
    stored = manifest.get("baselines")
    if stored and stored.get("seq_len") == seq_len:
        return stored
    return split_baselines(data, seq_len)
