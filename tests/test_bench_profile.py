"""`lstm bench --profile` on the CPU, for real at small sizes: the step's time split into device (here the
ATen operators) and host, the top operators, and the table that prints them."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from lstm.bench.profile import busy_us, profile_ours, render


def test_busy_time_is_the_union_of_intervals():
    assert busy_us([(0, 10), (5, 15), (20, 30)]) == 25
    assert busy_us([]) == 0


def test_profile_prints_its_table(prepared):
    cfg = SimpleNamespace(seq_len=32, hidden_size=32, num_layers=1, embed_dim=16, batch_size=16)
    p = profile_ours(prepared, cfg, torch.device("cpu"), steps=2, warmup=1, top=5)
    assert p["step_ms"] > 0 and 0 < p["device_ms"] <= p["step_ms"]
    assert p["device_ms"] + p["host_ms"] == pytest.approx(p["step_ms"])
    assert 0 < p["device_share"] <= 1 and len(p["top"]) == 5
    # ATen operators, and torch.optim's own ranges (`Optimizer.step#AdamW.step`) when its Python is slow
    assert all(t["op"] for t in p["top"]) and any(t["op"].startswith("aten::") for t in p["top"])
    assert sum(t["share"] for t in p["top"]) <= 1 + 1e-9
    text = "\n".join(render(p))
    assert "Profile of our training step" in text and "host and launch" in text and "ATen operators" in text
    assert p["top"][0]["op"][:60] in text
