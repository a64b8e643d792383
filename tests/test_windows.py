"""Windows are index arithmetic over one flat array: they never cross a file boundary."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from lstm.data.windows import load_split, window_starts


def file_of(offsets: np.ndarray, positions: np.ndarray) -> np.ndarray:
    return np.searchsorted(offsets, positions, side="right") - 1


def expected_count(offsets: np.ndarray, seq_len: int) -> int:
    return int(sum(max(int(n) - seq_len, 0) for n in np.diff(offsets)))


def check_windows(offsets: np.ndarray, seq_len: int) -> np.ndarray:
    starts = window_starts(offsets, seq_len)
    assert len(starts) == expected_count(offsets, seq_len)
    if len(starts):
        # the first input and the target (start + seq_len) lie in one file, inside the array
        assert (file_of(offsets, starts) == file_of(offsets, starts + seq_len)).all()
        assert starts.min() >= 0 and (starts + seq_len).max() < offsets[-1]
        assert len(np.unique(starts)) == len(starts)
    return starts


@pytest.mark.parametrize("seq_len", [1, 8, 32, 100])
def test_windows_of_embedded_data_stay_in_one_file(prepared, seq_len):
    for split in ("train", "validation", "test"):
        offsets = np.load(prepared / f"{split}_offsets.npy")
        starts = check_windows(offsets, seq_len)
        # every legal start is there: per file, positions 0 .. len - seq_len - 1
        want = np.concatenate([np.arange(a, b - seq_len) for a, b in zip(offsets[:-1], offsets[1:]) if b - a > seq_len])
        assert np.array_equal(starts, want)


def test_manifest_window_count_matches(prepared):
    manifest = json.loads((prepared / "manifest.json").read_text())
    for split, info in manifest["splits"].items():
        assert len(window_starts(np.load(prepared / f"{split}_offsets.npy"), 32)) == info["windows"] > 0


def test_short_files_give_no_window():
    # lengths 5, 3 (short), 4 (exactly seq_len: no target after it), 0 (empty), 6
    offsets = np.cumsum([0, 5, 3, 4, 0, 6])
    starts = check_windows(offsets, 4)
    assert starts.tolist() == [0, 12, 13]
    assert window_starts(np.cumsum([0, 3, 2]), 4).size == 0
    assert window_starts(np.array([0]), 4).size == 0


def test_split_batches_are_the_windows(prepared):
    split = load_split(prepared, "validation", 32)
    tokens = np.load(prepared / "validation_tokens.npy")
    assert len(split) == split.starts.numel()
    pick = split.starts[torch.tensor([0, 1, len(split) // 2, len(split) - 1])]
    batch = split.batch(pick)
    assert batch.shape == (4, 33) and batch.dtype == torch.int64
    for row, s in zip(batch.tolist(), pick.tolist()):
        assert row == tokens[s:s + 33].tolist()
    targets = split.targets()
    assert targets.shape == (len(split),)
    assert np.array_equal(targets.numpy(), tokens[split.starts.numpy() + 32])


def test_load_split_for_another_seq_len(prepared):
    # the arrays do not depend on the seq_len given to prepare
    offsets = np.load(prepared / "train_offsets.npy")
    for seq_len in (5, 64):
        split = load_split(prepared, "train", seq_len)
        assert split.seq_len == seq_len and len(split) == expected_count(offsets, seq_len)
