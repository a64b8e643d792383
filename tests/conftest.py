"""Shared fixtures: the embedded dataset, prepared once per session, and one tiny trained model."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

# Tiny LSTMs on a busy 2-core machine run far faster on one thread than on two that fight. `make test-perturbed`
# changes the threads and the kernels (other float results, as on another processor): no test may depend on them.
torch.set_num_threads(int(os.environ.get("MAESTRO_LSTM_TEST_THREADS", "1")))
if os.environ.get("MAESTRO_LSTM_TEST_DETERMINISTIC"):
    torch.use_deterministic_algorithms(True)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def tracking_uri_stays_in_its_test(monkeypatch):
    """`mlflow.set_tracking_uri` is process-wide and exports MLFLOW_TRACKING_URI, and it outranks the variable:
    a test that sets it would point every later test, and every server they start, at its stopped stack."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # each test names its own; put back afterwards
    yield
    if "mlflow" in sys.modules:  # nothing else can have set it
        sys.modules["mlflow"].set_tracking_uri(None)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """The token cache of this test session (the embedded MIDI files are built once per machine)."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def embedded_dir() -> Path:
    from lstm.data.corpus import build_embedded, default_cache_dir

    return build_embedded(default_cache_dir())


@pytest.fixture(scope="session")
def prepared(tmp_path_factory, embedded_dir, cache_dir) -> Path:
    from lstm.data.prepare import prepare

    out = tmp_path_factory.mktemp("prepared")
    prepare(embedded_dir, out, cache_dir, workers=os.cpu_count(), seq_len=32)
    return out


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, prepared) -> Path:
    """A small embed model trained for two epochs on the embedded data (CPU, seconds)."""
    from lstm.train import TrainConfig, train

    run = tmp_path_factory.mktemp("run")
    cfg = TrainConfig(model="embed", hidden_sizes=[64], embed_dim=32, batch_size=64, epochs=2, seq_len=32,
                      windows_per_epoch=4096, seed=0)
    train(prepared, run, cfg, device="cpu")
    return run
