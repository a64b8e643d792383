"""Windows of `seq_len` tokens → the next token, as index arithmetic over one flat token array.

A split is `tokens` (all files concatenated) plus `offsets` (file starts). A window is named by its
start `s`: inputs `tokens[s : s+seq_len]`, target `tokens[s+seq_len]`, and all of it inside one file.
Only the start indices are kept (4 bytes a token); batches are gathered on the fly, on the device
where the tokens live, so no N × seq_len array is ever built.

These are the training windows. Evaluation scores the yardstick's targets instead (`Split.scored`,
lstm/data/targets.py), the same tokens for every seq_len.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .manifest import read_prepared
from .targets import CONTEXT


class Targets:
    """The yardstick's targets (lstm/data/targets.py) of one split, from its file offsets on the device of its
    tokens, each with the context a model of `seq_len` sees."""

    # Named by their rank in file order and found by arithmetic on the file offsets, so that a subset (an evenly
    # spaced one, for a cap) is scored without listing them all.
    def __init__(self, offsets: torch.Tensor, seq_len: int):
        offsets = offsets.long()
        self.starts = offsets[:-1]
        self.counts = (offsets[1:] - self.starts - CONTEXT).clamp(min=0)
        self.ends = self.counts.cumsum(0)  # targets of files 0..f together
        self.seq_len = seq_len

    def __len__(self) -> int:
        return int(self.ends[-1]) if len(self.ends) else 0

    def ranks(self, limit: int = 0) -> torch.Tensor:
        """Every target's rank, or `limit` evenly spaced ones when there are more."""
        n, dev = len(self), self.ends.device
        if limit and n > limit:
            return torch.linspace(0, n - 1, limit, device=dev).long()
        return torch.arange(n, device=dev)

    def at(self, ranks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(token index, context length) of each ranked target: it is predicted from tokens[index - context : index]."""
        f = torch.searchsorted(self.ends, ranks, right=True)
        position = CONTEXT + ranks - (self.ends[f] - self.counts[f])
        return self.starts[f] + position, position.clamp(max=self.seq_len)


@dataclass
class Split:
    tokens: torch.Tensor  # (T,) int16/int32 ids as stored, on the training device
    starts: torch.Tensor  # (W,) int32/int64 window starts, on the same device
    seq_len: int
    offsets: torch.Tensor  # (files + 1,) int64 file starts, on the same device

    def __len__(self) -> int:
        return int(self.starts.numel())

    def batch(self, starts: torch.Tensor) -> torch.Tensor:
        """(B, seq_len + 1) token ids: inputs are [:, :-1], next-token targets [:, 1:]."""
        return self.gather(starts, self.seq_len + 1)

    def gather(self, starts: torch.Tensor, length: int) -> torch.Tensor:
        """(B, length) token ids from each start."""
        steps = torch.arange(length, device=self.tokens.device)
        return self.tokens[starts.long()[:, None] + steps].long()

    def scored(self) -> Targets:
        """The targets evaluation scores (the yardstick), each with the context this split's seq_len gives it."""
        return Targets(self.offsets, self.seq_len)

    def targets(self) -> torch.Tensor:
        """The target of every window, in window order."""
        return self.tokens[self.starts.long() + self.seq_len].long()


def window_starts(offsets: np.ndarray, seq_len: int) -> np.ndarray:
    """Every start whose window and target lie inside one file.

    Filled file by file into one preallocated array, so the peak is the result itself (4 bytes a
    token while the split has fewer than 2**31 tokens), not several temporaries of its size."""
    counts = np.clip(np.diff(offsets) - seq_len, 0, None)
    dtype = np.int32 if offsets[-1] < 2**31 else np.int64
    starts = np.empty(int(counts.sum()), dtype=dtype)
    pos = 0
    for first, count in zip(offsets[:-1].tolist(), counts.tolist()):
        starts[pos:pos + count] = np.arange(first, first + count, dtype=dtype)
        pos += count
    return starts


def load_vocab(data: str | Path) -> list[str]:
    """vocab.json of a directory written by `lstm prepare`: token strings, the unknown token at id 0."""
    return read_prepared(data, "vocab.json")


def load_split(data: str | Path, split: str, seq_len: int, device: torch.device | str = "cpu") -> Split:
    """The split's tokens memory-mapped (copy-on-write: trials on one machine share the page cache)
    and its window starts, both moved to `device`."""
    data = Path(data)
    tokens = torch.from_numpy(np.load(data / f"{split}_tokens.npy", mmap_mode="c"))
    offsets = np.load(data / f"{split}_offsets.npy")
    starts = torch.from_numpy(window_starts(offsets, seq_len))
    return Split(tokens.to(device), starts.to(device), seq_len, torch.from_numpy(offsets).long().to(device))
