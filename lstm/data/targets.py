"""The yardstick: which tokens every model is scored on, whatever its `seq_len`.

A target is a token with at least CONTEXT tokens before it in its file (the seed's definition, for its
100-token windows). A model of sequence length L predicts target i from the min(L, position) tokens
before it in its file, so a seq_len-32 and a seq_len-200 model of one data set are scored on the same
tokens and their accuracies can be compared; a file of CONTEXT tokens or fewer has no target.
Training windows are not these (lstm/data/windows.py): training may use every window.

numpy only, so that the sweep (which prepares data but never trains) does not import torch; the targets
of a loaded split, on its device, are lstm.data.windows.Targets.
"""

from __future__ import annotations

import numpy as np

CONTEXT = 100  # tokens a target has before it in its file, at least


def target_counts(offsets: np.ndarray) -> np.ndarray:
    """Targets of each file (0 for a file of CONTEXT tokens or fewer)."""
    return np.clip(np.diff(np.asarray(offsets)) - CONTEXT, 0, None)


def files_without_targets(offsets: np.ndarray) -> int:
    return int((target_counts(offsets) == 0).sum())
