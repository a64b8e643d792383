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

from .tracking import client

MAESTRO_MODEL = "maestro-lstm"
EMBEDDED_MODEL = "chorales-lstm"


def registered_name(data_dir: Path | None) -> str:
    """The registered model for a data directory (None: the embedded chorales)."""
    if data_dir is None:
        return EMBEDDED_MODEL
    if any(Path(data_dir).glob("maestro-v*.csv")):
        return MAESTRO_MODEL
    slug = re.sub(r"[^a-z0-9]+", "-", Path(data_dir).resolve().name.lower()).strip("-")
    return f"{slug or 'data'}-lstm"


def promote(model_uri: str, run_id: str, tags: dict, name: str = MAESTRO_MODEL) -> dict:
    """Register (once per trial run) as `name` and set the alias; returns name, version, alias and reason."""
    c = client()
    mlflow.set_tracking_uri(c.tracking_uri)
    existing = [v for v in c.search_model_versions(f"name = '{name}'") if v.tags.get("mlflow_run_id") == run_id]
    if existing:
        version = existing[0]
    else:
        version = mlflow.register_model(model_uri, name, tags={**tags, "mlflow_run_id": run_id})
    champion = _alias(c, name, "champion")
    new_acc = float(tags["val_accuracy"])
    if champion is None:
        alias, reason = "champion", "first registered model"
    elif champion.version == version.version:
        alias, reason = "champion", "already the champion"
    elif champion.tags.get("data_hash") != tags["data_hash"]:
        alias, reason = "challenger", f"champion v{champion.version} was trained on other data"
    elif new_acc > float(champion.tags.get("val_accuracy", "-1")):
        alias, reason = "champion", f"val_accuracy {new_acc:.4f} beats v{champion.version}'s {champion.tags.get('val_accuracy')}"
    else:
        alias, reason = "challenger", f"val_accuracy {new_acc:.4f} does not beat v{champion.version}'s {champion.tags.get('val_accuracy')}"
    c.set_registered_model_alias(name, alias, version.version)
    c.set_model_version_tag(name, version.version, "promotion", reason)
    return {"name": name, "version": int(version.version), "alias": alias, "reason": reason}


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
    local = c.download_artifacts(run_id, "checkpoint/model.pt", str(dst))
    return Path(local)
