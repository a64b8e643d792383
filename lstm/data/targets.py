"""The yardstick: which tokens every model is scored on, whatever its `seq_len`.

A target is a token with at least CONTEXT tokens before it in its file (the seed's definition, for its
100-token windows). A model of sequence length L predicts target i from the min(L, position) tokens
before it in its file, so a seq_len-32 and a seq_len-200 model of one data set are scored on the same
tokens and their accuracies can be compared; a file of CONTEXT tokens or fewer has no target.
Training windows are not these (lstm/data/windows.py): training may use every window.

Targets are named by their rank k in file order and found by arithmetic on the file offsets, so a
subset (an evenly spaced one, for a cap) is scored without listing them all.
"""

from __future__ import annotations

import numpy as np
import torch

CONTEXT = 100  # tokens a target has before it in its file, at least


def target_counts(offsets: np.ndarray) -> np.ndarray:
    """Targets of each file (0 for a file of CONTEXT tokens or fewer)."""
    return np.clip(np.diff(np.asarray(offsets)) - CONTEXT, 0, None)


def files_without_targets(offsets: np.ndarray) -> int:
    return int((target_counts(offsets) == 0).sum())


class Targets:
    """The targets of one split (its file offsets, on the device of its tokens) for a model of `seq_len`."""

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
