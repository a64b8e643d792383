"""What a completed trial leaves in its MLflow run: final metrics and baselines, the G/D histogram, the
checkpoint (`checkpoint/model.pt`: weights, config, vocabulary) (`log_results`), and music sampled from
the model: MIDI, piano roll, audio (`Music`); and the registrable pt2 model of a trial, made when the
sweep registers it.

The pt2 export costs seconds (tracing the model, MLflow's packaging: ~3.5 s on a CPU, ~9 s in a fresh
process on the GPU machine) and only a study's best trial is ever registered, so no trial exports:
`registrable_model` exports the best one from its checkpoint, once, into a logged model whose source
run is the trial's (mlflow.initialize_logged_model), and the registry takes it from there. A trial's
run stays as the trial left it.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import mlflow
import numpy as np
import torch
from mlflow.entities import Metric
from mlflow.models import ModelSignature
from mlflow.types import Schema, TensorSpec
from prefect import get_run_logger

from lstm.checkpoint import load_model
from lstm.models import NextToken
from lstm.music.audio import start_audio
from lstm.music.generate import sample_report

from .phases import Phases
from .tracking import client

CHECKPOINT_DIR = "checkpoint"
CHECKPOINT = f"{CHECKPOINT_DIR}/model.pt"  # a trial run's weights-only model.pt, as an MLflow artifact path
FINAL_METRICS = ("train_accuracy", "val_accuracy", "val_loss", "test_accuracy", "test_top5_accuracy",
                 "test_loss", "test_perplexity")


def log_results(metrics: dict, run_dir: Path) -> None:
    epochs, last = len(metrics["history"]), metrics["history"][-1]
    final = {k: metrics[k] for k in FINAL_METRICS}
    # val_accuracy/val_loss already have their point at the last epoch, unless the epochs validated on a
    # subset (eval_windows): then the full-set figure gets the next step, so each curve stays one point a step.
    same = {k for k in ("val_accuracy", "val_loss") if abs(final[k] - last[k]) < 1e-12}
    now = int(time.time() * 1000)
    points = [Metric(k, v, now, epochs + 1 if k.startswith("val_") else epochs)
              for k, v in final.items() if k not in same]
    points += [Metric(f"baseline_{k}_accuracy", v, now, 0) for k, v in metrics["baselines"].items()]
    gd = metrics["error_analysis"]
    points += [Metric(k, gd[k], now, 0) for k in ("predicted_share_G", "predicted_share_D", "top2_predicted_share")]
    client().log_batch(mlflow.active_run().info.run_id, metrics=points)  # one request, a step per key
    for name in ("gd_histogram.html", "gd_histogram.json", "metrics.json"):
        mlflow.log_artifact(str(run_dir / name))
    mlflow.log_artifact(str(run_dir / "model.pt"), CHECKPOINT_DIR)  # weights + config + vocabulary


def log_model(model: torch.nn.Module, vocab_size: int, model_id: str | None = None) -> str:
    """The model as a pickle-free pt2 program that runs on any batch size and sequence length: into the
    active run, or into the logged model `model_id` (mlflow.initialize_logged_model)."""
    from lstm.export import exportable  # torch.export's machinery: only the sweep exports, trials need none

    signature = ModelSignature(inputs=Schema([TensorSpec(np.dtype(np.int64), (-1, -1), "token_ids")]),
                               outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, vocab_size), "next_logits")]))
    example = np.random.default_rng(0).integers(1, vocab_size, size=(2, 8))
    # validate_serving_input=False: MLflow would load the program back and fail on its own list-shaped serving
    # example (a warning, nothing checked); loading it for real is what the e2e test and `lstm generate` do.
    info = mlflow.pytorch.log_model(NextToken(exportable(model)), name="model", serialization_format="pt2",
                                    signature=signature, input_example=example, pip_requirements=["torch"],
                                    validate_serving_input=False, model_id=model_id)
    return info.model_uri


class Music:
    """A completed trial's music: sampled from the kept model and measured against the test split
    (accuracy alone does not say whether a model makes music), written as MIDI and piano roll, and
    rendered to audio by FluidSynth, a child process on the other core. `start` is train's on_kept, so
    the rendering overlaps the model's evaluation and the logging of its results; `log` waits for it."""

    def __init__(self, prepared: Path, seed: int, phases: Phases):
        self.prepared, self.seed, self.phases = prepared, seed, phases
        self.metrics: dict[str, float] = {}
        self.rendering = None

    def __enter__(self) -> Music:
        self._dir = tempfile.TemporaryDirectory()
        self.dir = Path(self._dir.name)
        return self

    def __exit__(self, *exc) -> None:
        if self.rendering:
            self.rendering.stop()
        self._dir.cleanup()

    def start(self, model_path: Path) -> None:
        with self.phases("music"):
            model, saved = load_model(model_path, "cpu")
            self.metrics = sample_report(model, saved["vocab"], self.prepared, self.dir, seed=self.seed,
                                         seq_len=saved["config"]["seq_len"], audio=None)
            midi = self.dir / "sample.mid"
            self.rendering = start_audio(midi) if midi.is_file() else None

    def log(self) -> None:
        with self.phases("music"):
            mlflow.log_metrics(self.metrics)
            sound, message = self.rendering.result() if self.rendering else (None, "no sample")
            if sound is None:
                get_run_logger().info("%s", message)
            mlflow.log_artifacts(str(self.dir), "music")


def registrable_model(run_id: str) -> str:
    """The pt2 model of a trial's run: the logged model it already has, else one exported now from its
    checkpoint (no active run needed, the run itself untouched)."""
    c = client()
    experiment = c.get_run(run_id).info.experiment_id
    found = c.search_logged_models([experiment], filter_string=f"source_run_id = '{run_id}'", max_results=1)
    if found:
        return found[0].model_uri
    with tempfile.TemporaryDirectory() as tmp:
        model, saved = load_model(c.download_artifacts(run_id, CHECKPOINT, tmp), "cpu")
        logged = mlflow.initialize_logged_model(name="model", source_run_id=run_id, experiment_id=experiment)
        return log_model(model, len(saved["vocab"]), model_id=logged.model_id)
