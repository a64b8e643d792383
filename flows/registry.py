"""The MLflow Model Registry side: register the best trial, move `champion` only when it is better.

Each data set has its own registered model, named after it (`registered_name`): `maestro-lstm` for a
MAESTRO directory, `chorales-lstm` for the embedded chorales, `<folder>-lstm` for another folder, or
the sweep's `model_name`. So a demo on the chorales never holds MAESTRO's champion alias.

`champion` moves to the new version only if its validation accuracy beats the current champion's
on the same data (same manifest hash); otherwise the new version is the `challenger`. Accuracies
on different data are not comparable, so a version trained on other data never displaces the
champion by itself.
"""

from __future__ import annotations

import re
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException

from lstm.data.dataset import layout

from .outputs import CHECKPOINT, registrable_model
from .tracking import client

MAESTRO_MODEL = "maestro-lstm"
EMBEDDED_MODEL = "chorales-lstm"


def registered_name(data_dir: Path | None) -> str:
    """The registered model for a data directory (None: the embedded chorales)."""
    if data_dir is None:
        return EMBEDDED_MODEL
    if layout(Path(data_dir)) == "maestro":
        return MAESTRO_MODEL
    slug = re.sub(r"[^a-z0-9]+", "-", Path(data_dir).resolve().name.lower()).strip("-")
    return f"{slug or 'data'}-lstm"


def promote(run_id: str, tags: dict, name: str) -> dict:
    """Register the trial run's model (once per run; exported now if it has none) as `name` and set the
    alias; returns name, version, alias and reason."""
    c = client()
    mlflow.set_tracking_uri(c.tracking_uri)
    existing = [v for v in c.search_model_versions(f"name = '{name}'") if v.tags.get("mlflow_run_id") == run_id]
    if existing:
        version = existing[0]
    else:
        version = mlflow.register_model(registrable_model(run_id), name, tags={**tags, "mlflow_run_id": run_id})
    champion = _alias(c, name, "champion")
    alias, reason = decide_alias(champion.version if champion else None, champion.tags if champion else {},
                                 version.version, float(tags["val_accuracy"]), tags["data_hash"])
    c.set_registered_model_alias(name, alias, version.version)
    c.set_model_version_tag(name, version.version, "promotion", reason)
    return {"name": name, "version": int(version.version), "alias": alias, "reason": reason}


def decide_alias(champion_version: str | None, champion_tags: dict, version: str, val_accuracy: float,
                 data_hash: str) -> tuple[str, str]:
    """The new version's alias (`champion` or `challenger`) and why, from the current champion (None:
    there is none) and its tags (`val_accuracy`, `data_hash`). A tie keeps the champion."""
    if champion_version is None:
        return "champion", "first registered model"
    if str(champion_version) == str(version):
        return "champion", "already the champion"
    if champion_tags.get("data_hash") != data_hash:
        return "challenger", f"champion v{champion_version} was trained on other data"
    theirs = champion_tags.get("val_accuracy")  # a champion without one is beaten by any accuracy
    if val_accuracy > float(champion_tags.get("val_accuracy", "-1")):
        return "champion", f"val_accuracy {val_accuracy:.4f} beats v{champion_version}'s {theirs}"
    return "challenger", f"val_accuracy {val_accuracy:.4f} does not beat v{champion_version}'s {theirs}"


def _alias(c, name: str, alias: str):
    try:
        return c.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def download_model_pt(uri: str, dst: str | Path) -> Path:
    """`models:/NAME@ALIAS` (or /VERSION) → the local path of its weights-only model.pt checkpoint."""
    c = client()
    name, _, ref = uri.removeprefix("models:/").partition("@")
    version = c.get_model_version_by_alias(name, ref) if ref else c.get_model_version(*name.split("/", 1))
    run_id = version.tags.get("mlflow_run_id") or version.run_id
    local = c.download_artifacts(run_id, CHECKPOINT, str(dst))
    return Path(local)
