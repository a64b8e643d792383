"""`lstm evaluate` and `lstm generate` on `models:/NAME@ALIAS`: one resolution (lstm.music.cli.resolve_model,
the `models` source of flows.sweep.registry), against a real MLflow registry in a local sqlite file, no server."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from mlflow import MlflowClient

from flows import names

LSTM = [sys.executable, "-m", "lstm"]


@pytest.fixture(scope="module")
def registry(tiny_run, tmp_path_factory) -> dict:
    """tiny_run's checkpoint logged on a run and registered as `tiny-lstm`, alias champion, as a sweep leaves it."""
    root = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    c = MlflowClient(uri)
    experiment = c.create_experiment("tiny", artifact_location=(root / "artifacts").as_uri())
    run_id = c.create_run(experiment).info.run_id
    c.log_artifact(run_id, str(tiny_run / "model.pt"), names.CHECKPOINT_DIR)
    c.create_registered_model("tiny-lstm")
    version = c.create_model_version("tiny-lstm", f"runs:/{run_id}/{names.CHECKPOINT_DIR}", run_id=run_id,
                                     tags={names.MLFLOW_RUN_ID: run_id})
    c.set_registered_model_alias("tiny-lstm", names.CHAMPION, version.version)
    return {**os.environ, "MLFLOW_TRACKING_URI": uri, "OMP_NUM_THREADS": "1"}


def run_lstm(env: dict, *args) -> subprocess.CompletedProcess:
    return subprocess.run([*LSTM, *map(str, args)], capture_output=True, text=True, timeout=300, env=env)


def test_evaluate_a_registered_model(registry, tiny_run, prepared, tmp_path):
    out = tmp_path / "scored"
    done = run_lstm(registry, "evaluate", "--model", "models:/tiny-lstm@champion", "--data", prepared,
                    "--out", out, "--device", "cpu")
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"wrote {out / 'metrics.json'}" in done.stdout and (out / "gd_histogram.json").is_file()
    got, trained = json.loads((out / "metrics.json").read_text()), json.loads((tiny_run / "metrics.json").read_text())
    for key in ("val_targets", "test_targets", "train_accuracy_targets", "baselines", "data_hash", "seq_len"):
        assert got[key] == trained[key], key
    for key, n in (("val_accuracy", "val_targets"), ("test_accuracy", "test_targets")):
        assert got[key] == pytest.approx(trained[key], abs=1.5 / got[n]), key  # one near-tie may flip
    assert "history" not in got  # a registered model's evaluation knows nothing of its training


def test_generate_from_a_registered_model(registry, prepared, tmp_path):
    done = run_lstm(registry, "generate", "--model", "models:/tiny-lstm@champion", "--data", prepared,
                    "--out", tmp_path / "piece.mid", "--length", "20", "--seed", "1", "--audio", "none")
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "piece.mid").is_file()


@pytest.mark.parametrize("model, extra, message", [
    ("models:/tiny-lstm@nobody", ["--out", "scored"], "cannot fetch models:/tiny-lstm@nobody: "),
    ("models:/tiny-lstm@champion", [], "give --out DIR for models:/tiny-lstm@champion"),
])
def test_evaluate_a_registered_model_fails_in_one_line(registry, prepared, tmp_path, model, extra, message):
    done = run_lstm(registry, "evaluate", "--model", model, "--data", prepared, "--device", "cpu",
                    *[tmp_path / a if a == "scored" else a for a in extra])
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and lines[-1].startswith(f"lstm evaluate: error: {message}"), done.stderr
    assert "Traceback" not in done.stderr
