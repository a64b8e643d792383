"""Baselines on the same targets as the models: every accuracy we report stands next to these."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from lstm.data.vocab import UNKNOWN_ID


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


def baseline_accuracies(train_tokens, train_offsets, tokens, offsets, seq_len: int) -> dict:
    """Accuracy of each baseline over every window target (position >= seq_len in its file)."""
    models = {"most_frequent": NGram(1, train_tokens, train_offsets),
              "bigram": NGram(2, train_tokens, train_offsets),
              "trigram": NGram(3, train_tokens, train_offsets)}
    hits, n = Counter(), 0
    for seq in _files(tokens, offsets):
        for i in range(seq_len, len(seq)):
            n += 1
            for name, model in models.items():
                hits[name] += model.predict(seq[i - 2:i]) == seq[i]
    return {name: (hits[name] / n if n else 0.0) for name in models}
