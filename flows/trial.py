"""One Optuna trial as its own Prefect flow run on the `gpu` pool (deployment `trial/run`).

The study has already asked Optuna for the parameters and created the MLflow child run; this flow
trains, reports every epoch to Optuna (which may prune) and to MLflow, logs the results and the
model, and tells Optuna the outcome itself. Prefect retries the flow on errors such as an
unreachable MLflow server; training resumes from the trial's last checkpoint.
"""

from __future__ import annotations

import os
import socket
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
from prefect import flow, get_run_logger

from lstm.checkpoint import load_model
from lstm.export import exportable
from lstm.models import NextToken
from lstm.music.generate import sample_report
from lstm.train import TrainConfig, train

from .settings import state_dir
from .space import load_space
from .storage import heartbeat, make_storage
from .tracking import check_reachable

FINAL_METRICS = ("train_accuracy", "val_accuracy", "val_loss", "test_accuracy", "test_top5_accuracy",
                 "test_loss", "test_perplexity")


def pick_device(slot: int) -> str:
    """One GPU per trial: a worker pinned by CUDA_VISIBLE_DEVICES uses its GPU; else GPU `slot`."""
    if not torch.cuda.is_available():
        return "cpu"
    if os.environ.get("CUDA_VISIBLE_DEVICES") is None and torch.cuda.device_count() > 1:
        return f"cuda:{slot % torch.cuda.device_count()}"
    return "cuda"


def log_model(model: torch.nn.Module, run_dir: Path, vocab_size: int) -> str:
    """The model as a pickle-free pt2 program that runs on any batch size and sequence length."""
    signature = ModelSignature(inputs=Schema([TensorSpec(np.dtype(np.int64), (-1, -1), "token_ids")]),
                               outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, vocab_size), "next_logits")]))
    example = np.random.default_rng(0).integers(1, vocab_size, size=(2, 8))
    info = mlflow.pytorch.log_model(NextToken(exportable(model)), name="model", serialization_format="pt2",
                                    signature=signature, input_example=example, pip_requirements=["torch"])
    mlflow.log_artifact(str(run_dir / "model.pt"), "checkpoint")  # weights + config + vocabulary
    return info.model_uri


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
    mlflow.log_artifact(str(run_dir / "gd_histogram.html"))
    mlflow.log_artifact(str(run_dir / "gd_histogram.json"))
    mlflow.log_artifact(str(run_dir / "metrics.json"))


@flow(name="trial", retries=3, retry_delay_seconds=20, log_prints=True)
def trial(study_name: str, trial_number: int, params: dict, space: str, prepared: str, mlflow_run_id: str,
          storage: str = "", seed: int = 0, slot: int = 0) -> dict:
    logger = get_run_logger()
    check_reachable()
    optuna_storage, search_space = make_storage(storage), load_space(space)
    study = optuna.load_study(study_name=study_name, storage=optuna_storage, pruner=search_space.pruner())
    frozen = next(t for t in study.get_trials(deepcopy=False) if t.number == trial_number)
    if frozen.state.is_finished():
        logger.info("trial %d already %s", trial_number, frozen.state.name)
        return {"state": frozen.state.name}
    live = optuna.trial.Trial(study, frozen._trial_id)
    cfg = TrainConfig(**search_space.train_config(params, seed))
    run_dir = state_dir() / "runs" / study_name / f"trial-{trial_number}"
    device = pick_device(slot)

    def on_epoch(m: dict) -> None:
        mlflow.log_metrics({k: m[k] for k in ("train_loss", "val_loss", "val_accuracy", "epoch_seconds")},
                           step=m["epoch"])
        live.report(m["val_accuracy"], m["epoch"])
        if live.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {m['epoch']} (val_accuracy {m['val_accuracy']:.4f})")

    with mlflow.start_run(run_id=mlflow_run_id), heartbeat(optuna_storage, frozen._trial_id):
        mlflow.set_tags({"device": device, "prefect.trial_flow_run": _flow_run_id(),
                         "worker": os.environ.get("MAESTRO_WORKER", socket.gethostname())})
        try:
            metrics = train(prepared, run_dir, cfg, device=device, on_epoch=on_epoch, resume=True)
        except optuna.TrialPruned as pruned:
            logger.info("%s", pruned)
            mlflow.set_tags({"optuna.state": "PRUNED", "pruned_reason": str(pruned)})
            study.tell(trial_number, state=optuna.trial.TrialState.PRUNED)
            mlflow.end_run("KILLED")  # ends the active run: leaving the `with` would mark it FINISHED
            return {"state": "PRUNED"}
        except Exception as exc:
            mlflow.set_tag("failure_reason", f"{type(exc).__name__}: {exc}"[:5000])
            raise  # the `with` ends the run FAILED; Prefect retries the flow
        log_results(metrics, run_dir)
        model_uri = _log_model_and_music(run_dir, Path(prepared), cfg.seed)
        live.set_user_attr("model_uri", model_uri)
        live.set_user_attr("test_accuracy", metrics["test_accuracy"])
        mlflow.set_tag("optuna.state", "COMPLETE")
    study.tell(trial_number, metrics["val_accuracy"])
    return {"state": "COMPLETE", "val_accuracy": metrics["val_accuracy"], "model_uri": model_uri}


def _log_model_and_music(run_dir: Path, prepared: Path, seed: int) -> str:
    """The model, then music sampled from it and measured against the test split (issue: accuracy alone
    does not say whether a model makes music)."""
    model, saved = load_model(run_dir, "cpu")
    uri = log_model(model, run_dir, len(saved["vocab"]))
    with tempfile.TemporaryDirectory() as tmp:
        music = sample_report(model, saved["vocab"], prepared, Path(tmp), seed=seed,
                              seq_len=saved["config"]["seq_len"])
        mlflow.log_metrics(music)
        mlflow.log_artifacts(tmp, "music")
    return uri


def _flow_run_id() -> str:
    from prefect.runtime import flow_run

    return str(flow_run.id or "")
