"""The bench's corpora and comparisons: the MAESTRO-size generator, and `lstm.bench.compare --full`, which sets
each epoch's validation subset beside the whole split."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from lstm.bench.maestro_size import build
from lstm.data.maestro import read_pieces

REPO = Path(__file__).resolve().parents[1]


def test_maestro_size_is_maestro_layout_split_as_published_and_deterministic(tmp_path):
    out = build(tmp_path, files=12, workers=2)
    pieces = read_pieces(out, None)
    assert Counter(p.split for p in pieces) == {"train": 9, "validation": 1, "test": 2}  # 962/137/177 of 1,276
    written = {p.midi_filename: (out / p.midi_filename).read_bytes() for p in pieces}
    for p in pieces[::5]:  # an interrupted build: these were never written
        (out / p.midi_filename).unlink()
    build(out, files=12, workers=1)
    assert {p.midi_filename: (out / p.midi_filename).read_bytes() for p in pieces} == written


@pytest.mark.slow
def test_compare_full_puts_the_subset_beside_the_whole_split(prepared):
    def run(targets: int) -> list[tuple[float, float]]:
        done = subprocess.run(
            [sys.executable, "-m", "lstm.bench.compare", "--data", str(prepared), "--epochs", "2", "--full",
             "--targets", str(targets), "--set", "seq_len=32", "hidden_sizes=[32]", "embed_dim=16"],
            capture_output=True, text=True, cwd=REPO, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        rows = re.findall(r"val (\d+\.\d+)%  all (\d+\.\d+)%", done.stdout)
        assert len(rows) == 2, done.stdout
        return [(float(s), float(w)) for s, w in rows]

    every = run(10**9)  # a subset as large as the split is the split
    assert all(s == w for s, w in every)
    assert [w for _, w in run(300)] == [w for _, w in every]  # the subset's size changes no training
