"""The MLflow Model Registry side: register the best trial, move `champion` only when it is better.

Each data set has its own registered model, named after it (`registered_name`): `maestro-lstm` for a
MAESTRO directory, `chorales-lstm` for the embedded chorales, `<folder>-lstm` for another folder, or
the sweep's `model_name`. So a demo on the chorales never holds MAESTRO's champion alias.

`champion` moves to the new version only if its validation accuracy beats the current champion's
on the same data (same manifest hash) and the same targets (lstm/data/targets.py: the same for every
seq_len, so models of any seq_len compete); otherwise the new version is the `challenger`. Accuracies
on different data or targets are not comparable, so such a version never displaces the champion by
itself (a champion registered before the common targets has no VAL_TARGETS tag: move it by hand).
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException

from lstm.data.dataset import layout

from ..names import (
    CHALLENGER,
    CHAMPION,
    CHECKPOINT,
    DATA_HASH,
    EMBEDDED_MODEL,
    MAESTRO_MODEL,
    MLFLOW_RUN_ID,
    PROMOTION,
    TEST_ACCURACY,
    VAL_ACCURACY,
    VAL_TARGETS,
    VERSION_STUDY,
    VERSION_TRIAL,
)
from ..tracking import client


@dataclass
class Promotion:
    name: str
    version: int
    alias: str  # CHAMPION or CHALLENGER
    reason: str


def registered_name(data_dir: Path | None) -> str:
    """The registered model for a data directory (None: the embedded chorales)."""
    if data_dir is None:
        return EMBEDDED_MODEL
    if layout(Path(data_dir)) == "maestro":
        return MAESTRO_MODEL
    slug = re.sub(r"[^a-z0-9]+", "-", Path(data_dir).resolve().name.lower()).strip("-")
    return f"{slug or 'data'}-lstm"


def promote(run_id: str, name: str, study: str, trial_number: int, val_accuracy: float,
            test_accuracy: float | None, data_hash: str) -> Promotion:
    """Register the trial run's model as `name` (once per run; exported now if it has none) and set its alias."""
    c = client()
    mlflow.set_tracking_uri(c.tracking_uri)
    existing = [v for v in c.search_model_versions(f"name = '{name}'") if v.tags.get(MLFLOW_RUN_ID) == run_id]
    measured = c.get_run(run_id).data.metrics.get(VAL_TARGETS)  # logged with the trial's final metrics
    val_targets = int(measured) if measured is not None else None
    if existing:
        version = existing[0]
    else:
        tags = {VERSION_STUDY: study, VERSION_TRIAL: str(trial_number), VAL_ACCURACY: f"{val_accuracy:.6f}",
                TEST_ACCURACY: f"{test_accuracy if test_accuracy is not None else float('nan'):.6f}",
                DATA_HASH: data_hash, MLFLOW_RUN_ID: run_id,
                **({VAL_TARGETS: str(val_targets)} if val_targets is not None else {})}
        version = mlflow.register_model(registrable_model(run_id), name, tags=tags)
    champion = _alias(c, name, CHAMPION)
    alias, reason = decide_alias(champion.version if champion else None, champion.tags if champion else {},
                                 version.version, val_accuracy, data_hash, val_targets)
    c.set_registered_model_alias(name, alias, version.version)
    c.set_model_version_tag(name, version.version, PROMOTION, reason)
    return Promotion(name, int(version.version), alias, reason)


def decide_alias(champion_version: str | None, champion_tags: dict, version: str, val_accuracy: float,
                 data_hash: str, val_targets: int | None) -> tuple[str, str]:
    """The new version's alias (`champion` or `challenger`) and why, from the current champion (None:
    there is none) and its tags (VAL_ACCURACY, VAL_TARGETS, DATA_HASH). A tie keeps the champion."""
    if champion_version is None:
        return CHAMPION, "first registered model"
    if str(champion_version) == str(version):
        return CHAMPION, "already the champion"
    if champion_tags.get(DATA_HASH) != data_hash:
        return CHALLENGER, f"champion v{champion_version} was trained on other data"
    if champion_tags.get(VAL_TARGETS) != str(val_targets):
        return CHALLENGER, (f"champion v{champion_version} was scored on other targets "
                            f"({champion_tags.get(VAL_TARGETS)} validation targets, this one {val_targets})")
    theirs = champion_tags.get(VAL_ACCURACY)  # a champion without one is beaten by any accuracy
    if val_accuracy > float(champion_tags.get(VAL_ACCURACY, "-1")):
        return CHAMPION, f"val_accuracy {val_accuracy:.4f} beats v{champion_version}'s {theirs}"
    return CHALLENGER, f"val_accuracy {val_accuracy:.4f} does not beat v{champion_version}'s {theirs}"


def _alias(c, name: str, alias: str):
    try:
        return c.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def registrable_model(run_id: str) -> str:
    """The pt2 model of a trial's run: the logged model it already has, else one exported now from its
    checkpoint into a logged model whose source run is the trial's (the run itself untouched).

    Only a study's best trial is ever registered, so trials do not export: the export (tracing the model,
    MLflow's packaging) happens here, once, and imports torch only now."""
    from lstm.checkpoint import load_model

    c = client()
    experiment = c.get_run(run_id).info.experiment_id
    found = c.search_logged_models([experiment], filter_string=f"source_run_id = '{run_id}'", max_results=1)
    if found:
        return found[0].model_uri
    with tempfile.TemporaryDirectory() as tmp:
        model, saved = load_model(c.download_artifacts(run_id, CHECKPOINT, tmp), "cpu")
        logged = mlflow.initialize_logged_model(name="model", source_run_id=run_id, experiment_id=experiment)
        return log_pt2_model(model, len(saved["vocab"]), logged.model_id)


def log_pt2_model(model, vocab_size: int, model_id: str) -> str:
    """The model as a pickle-free pt2 program that runs on any batch size and sequence length, into the
    logged model `model_id` (mlflow.initialize_logged_model)."""
    import numpy as np
    from mlflow.models import ModelSignature
    from mlflow.types import Schema, TensorSpec

    from lstm.export import exportable
    from lstm.models import NextToken

    signature = ModelSignature(inputs=Schema([TensorSpec(np.dtype(np.int64), (-1, -1), "token_ids")]),
                               outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, vocab_size), "next_logits")]))
    example = np.random.default_rng(0).integers(1, vocab_size, size=(2, 8))
    # validate_serving_input=False: MLflow would load the program back and fail on its own list-shaped serving
    # example (a warning, nothing checked); loading it for real is what the e2e test and `lstm generate` do.
    info = mlflow.pytorch.log_model(NextToken(exportable(model)), name="model", serialization_format="pt2",
                                    signature=signature, input_example=example, pip_requirements=["torch"],
                                    validate_serving_input=False, model_id=model_id)
    return info.model_uri


def download_model_pt(uri: str, dst: str | Path) -> Path:
    """`models:/NAME@ALIAS` (or /VERSION) → the local path of its weights-only model.pt checkpoint."""
    c = client()
    name, _, ref = uri.removeprefix("models:/").partition("@")
    version = c.get_model_version_by_alias(name, ref) if ref else c.get_model_version(*name.split("/", 1))
    run_id = version.tags.get(MLFLOW_RUN_ID) or version.run_id
    return Path(c.download_artifacts(run_id, CHECKPOINT, str(dst)))
