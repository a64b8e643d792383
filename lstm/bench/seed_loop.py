"""The seed's way of training, kept only as the benchmark's reference point (`lstm bench`).

Every window is materialized on the host before training: an N × seq_len float32 array (the seed fed
one float a step, id / vocabulary size; here the array holds the ids as floats and SeedLSTM divides,
the same numbers and the same 4 × seq_len bytes a window), then a DataLoader over a TensorDataset,
unshuffled, copies each batch to the device. The loss is on the last step only: one target a window.
The materialization is the cheapest form of the seed's: the seed built Python lists, then float64.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from lstm.data.windows import window_starts
from lstm.seed import SEED


def materialize_windows(tokens: np.ndarray, offsets: np.ndarray, seq_len: int,
                        chunk: int = 1 << 16) -> tuple[np.ndarray, np.ndarray]:
    """(N, seq_len) float32 inputs and (N,) int64 next-token targets, every window of every file."""
    starts = window_starts(offsets, seq_len)
    view = sliding_window_view(tokens, seq_len)  # no copy: a strided view of the token array
    inputs = np.empty((len(starts), seq_len), dtype=np.float32)
    for a in range(0, len(starts), chunk):
        inputs[a:a + chunk] = view[starts[a:a + chunk]]
    targets = tokens[starts.astype(np.int64) + seq_len].astype(np.int64)
    return inputs, targets


def seed_loader(inputs: np.ndarray, targets: np.ndarray, batch_size: int) -> DataLoader:
    return DataLoader(TensorDataset(torch.from_numpy(inputs), torch.from_numpy(targets)),
                      batch_size=batch_size, shuffle=False)


def endless(loader: DataLoader) -> Iterator:
    """The loader's batches again and again (epochs), never holding more than one."""
    while True:
        yield from loader


def seed_optimizer(model: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=SEED.lr, momentum=SEED.momentum)


def seed_step(model: nn.Module, opt: torch.optim.Optimizer, batches: Iterator,
              device: torch.device) -> Callable[[], None]:
    """One optimizer step a call: the next host batch copied to the device, fp32, loss on the last step."""

    def step() -> None:
        x, y = next(batches)
        x, y = x.to(device), y.to(device)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step
