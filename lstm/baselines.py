"""Baselines on the same targets as the models: every accuracy we report stands next to these.

The most frequent train token, and the most frequent next token after the last one (bigram) or two
(trigram) tokens in the train split, within files, backing off to shorter contexts and finally to the
most frequent token; a tie goes to the token that followed the context first. They are counted with
numpy over whole arrays: counting in Python dicts is six times slower on a MAESTRO-size corpus.

The targets are the yardstick's (lstm/data/targets.py: the tokens with at least CONTEXT tokens before
them in their file), the same for every model's seq_len, so the baselines are one figure per data set:
`lstm prepare` keeps whether each baseline is right about each validation and test token
(`<split>_baseline_hits.npy`) and writes their accuracies on the targets into manifest.json.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lstm.data.manifest import Manifest
from lstm.data.targets import CONTEXT
from lstm.data.vocab import UNKNOWN_ID

SCORED_SPLITS = ("validation", "test")
BASELINES = ("most_frequent", "bigram", "trigram")  # the order of a hits array's columns


def positions(offsets: np.ndarray) -> np.ndarray:
    """Each token's position within its file."""
    lengths = np.diff(offsets)
    return np.arange(int(offsets[-1]) - int(offsets[0])) - np.repeat(offsets[:-1] - offsets[0], lengths)


@dataclass
class Context:
    """The most frequent next token after each context seen in train (contexts as sorted int keys)."""
    keys: np.ndarray
    best: np.ndarray

    @classmethod
    def count(cls, context: np.ndarray, following: np.ndarray, size: int) -> Context:
        pairs, first, counts = np.unique(context * size + following, return_index=True, return_counts=True)
        ctx = pairs // size
        order = np.lexsort((first, -counts, ctx))  # by context, then most frequent, then seen first
        ctx, tok = ctx[order], (pairs % size)[order]
        lead = np.r_[True, ctx[1:] != ctx[:-1]]
        return cls(ctx[lead], tok[lead])

    def predict(self, context: np.ndarray, seen: np.ndarray, otherwise: np.ndarray) -> np.ndarray:
        """The best token after each context where `seen` and the context was seen in train, else `otherwise`."""
        if not len(self.keys):
            return otherwise
        at = np.minimum(np.searchsorted(self.keys, context), len(self.keys) - 1)
        return np.where(seen & (self.keys[at] == context), self.best[at], otherwise)


@dataclass
class NGrams:
    size: int  # token ids are below it: keys are context * size + token
    fallback: int  # the most frequent train token
    one: Context  # after one token
    two: Context  # after two tokens

    def predictions(self, tokens: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """(tokens, baselines): each baseline's prediction of each token from the ones before it in its file."""
        t, pos = np.asarray(tokens, dtype=np.int64), positions(offsets)
        known = t < self.size  # a token id past train's (none in prepared data) is a context never seen
        prev1, prev2 = np.roll(t, 1), np.roll(t, 2)
        known1, known2 = np.roll(known, 1), np.roll(known, 2)
        unigram = np.full(len(t), self.fallback, dtype=np.int64)
        bigram = self.one.predict(prev1, (pos >= 1) & known1, unigram)
        trigram = self.two.predict(prev2 * self.size + prev1, (pos >= 2) & known1 & known2, bigram)
        return np.stack([unigram, bigram, trigram], axis=1)


def fit(train_tokens: np.ndarray, train_offsets: np.ndarray) -> NGrams:
    t, pos = np.asarray(train_tokens, dtype=np.int64), positions(train_offsets)
    size = int(t.max()) + 1 if len(t) else 1
    counts = np.bincount(t, minlength=size)
    # the most frequent token; a tie goes to the one seen first, as for contexts
    fallback = int(t[counts[t] == counts.max()][0]) if len(t) else UNKNOWN_ID
    one, two = pos >= 1, pos >= 2
    return NGrams(size, fallback, Context.count(np.roll(t, 1)[one], t[one], size),
                  Context.count((np.roll(t, 2) * size + np.roll(t, 1))[two], t[two], size))


def hits(models: NGrams, tokens: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """(tokens, baselines) bools: whether each baseline predicts each token from the ones before it in its file."""
    return models.predictions(tokens, offsets) == np.asarray(tokens, dtype=np.int64)[:, None]


def accuracies(hit_rows: np.ndarray, offsets: np.ndarray) -> dict:
    """Each baseline's accuracy over the targets: the tokens at position >= CONTEXT in their file."""
    targets = hit_rows[positions(offsets) >= CONTEXT]
    return {name: int(targets[:, j].sum()) / len(targets) if len(targets) else 0.0
            for j, name in enumerate(BASELINES)}


def _arrays(data: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    return np.load(data / f"{split}_tokens.npy", mmap_mode="r"), np.load(data / f"{split}_offsets.npy")


def hits_path(data: Path, split: str) -> Path:
    return data / f"{split}_baseline_hits.npy"


def split_hits(data: Path) -> dict[str, np.ndarray]:
    """The baselines fitted on train, and their hits on the validation and test tokens."""
    models = fit(*_arrays(data, "train"))
    return {split: hits(models, *_arrays(data, split)) for split in SCORED_SPLITS}


def write_hits(data: str | Path) -> None:
    """At preparation, once per data set."""
    for split, rows in split_hits(Path(data)).items():
        np.save(hits_path(Path(data), split), rows)


def data_baselines(data: str | Path, manifest: Manifest | None) -> dict:
    """{"context", "validation": {...}, "test": {...}}: from the manifest when it has them on these targets,
    else from the kept hits (a directory prepared before the common targets, or before hits were kept:
    fitted again now)."""
    data = Path(data)
    stored = manifest.baselines if manifest else None
    if stored and stored.get("context") == CONTEXT:
        return stored
    if all(hits_path(data, s).is_file() for s in SCORED_SPLITS):
        kept = {s: np.load(hits_path(data, s)) for s in SCORED_SPLITS}
    else:
        kept = split_hits(data)
    return {"context": CONTEXT, **{s: accuracies(kept[s], _arrays(data, s)[1]) for s in SCORED_SPLITS}}
