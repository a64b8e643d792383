"""What a completed trial leaves in its MLflow run: final metrics and baselines, the G/D histogram, the
checkpoint, music sampled from the model (MIDI, piano roll, audio), and the registrable pt2 model.

The pt2 export costs a trial seconds (tracing the model, MLflow's packaging) and only a study's best
trial is ever registered (flows/registry.py), so a trial exports only when it is at least as good as
every trial completed before it: the study's best always has its model, and most trials of a long
study skip the export. Every trial keeps `checkpoint/model.pt` (weights, config, vocabulary), which
`lstm generate --model` loads.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import mlflow
import numpy as np
import optuna
import torch
from mlflow import MlflowClient
from mlflow.entities import Metric
from mlflow.models import ModelSignature
from mlflow.types import Schema, TensorSpec
from prefect import get_run_logger

from lstm.checkpoint import load_model
from lstm.export import exportable
from lstm.models import NextToken
from lstm.music.audio import start_audio
from lstm.music.generate import sample_report

from .phases import Phases

FINAL_METRICS = ("train_accuracy", "val_accuracy", "val_loss", "test_accuracy", "test_top5_accuracy",
                 "test_loss", "test_perplexity")
MODEL_TAG = "model_logged"  # "yes", or why not: the trial's runs say which ones can be registered


def export_reason(study: optuna.Study, val_accuracy: float) -> str:
    """"" when the trial should export its model (nothing completed is better), else why it does not."""
    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    best = max(done, key=lambda t: t.value, default=None)
    if best is None or val_accuracy >= best.value:
        return ""
    return f"no: trial {best.number} is better (val_accuracy {best.value:.4f} > {val_accuracy:.4f})"


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
    MlflowClient().log_batch(mlflow.active_run().info.run_id, metrics=points)  # one request, a step per key
    for name in ("gd_histogram.html", "gd_histogram.json", "metrics.json"):
        mlflow.log_artifact(str(run_dir / name))
    mlflow.log_artifact(str(run_dir / "model.pt"), "checkpoint")  # weights + config + vocabulary


def log_model(model: torch.nn.Module, vocab_size: int) -> str:
    """The model as a pickle-free pt2 program that runs on any batch size and sequence length."""
    signature = ModelSignature(inputs=Schema([TensorSpec(np.dtype(np.int64), (-1, -1), "token_ids")]),
                               outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, vocab_size), "next_logits")]))
    example = np.random.default_rng(0).integers(1, vocab_size, size=(2, 8))
    # validate_serving_input=False: MLflow would load the program back and fail on its own list-shaped serving
    # example (a warning, nothing checked); loading it for real is what the e2e test and `lstm generate` do.
    info = mlflow.pytorch.log_model(NextToken(exportable(model)), name="model", serialization_format="pt2",
                                    signature=signature, input_example=example, pip_requirements=["torch"],
                                    validate_serving_input=False)
    return info.model_uri


def log_outputs(metrics: dict, run_dir: Path, prepared: Path, seed: int, phases: Phases,
                skip_export: str) -> str | None:
    """Everything a completed trial logs; returns the model's URI (None when `skip_export` says why not).
    Music is sampled from the model and measured against the test split (accuracy alone does not say
    whether a model makes music); FluidSynth renders its audio while the rest is logged and exported."""
    model, saved = load_model(run_dir, "cpu")
    uri = None
    with tempfile.TemporaryDirectory() as tmp:
        with phases("music"):
            music = sample_report(model, saved["vocab"], prepared, Path(tmp), seed=seed,
                                  seq_len=saved["config"]["seq_len"], audio=None)
            midi = Path(tmp) / "sample.mid"
            rendering = start_audio(midi) if midi.is_file() else None
        with phases("evaluation"):
            log_results(metrics, run_dir)
        if not skip_export:
            with phases("export"):
                uri = log_model(model, len(saved["vocab"]))
        mlflow.set_tag(MODEL_TAG, skip_export or "yes")
        with phases("music"):
            sound, message = rendering.result() if rendering else (None, "no sample")
            if sound is None:
                get_run_logger().info("%s", message)
            mlflow.log_metrics(music)
            mlflow.log_artifacts(tmp, "music")
    return uri
