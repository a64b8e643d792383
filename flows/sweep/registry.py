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
import shutil
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

import lstm
from lstm.data.dataset import layout
from lstm.data.manifest import load_manifest

from ..names import (
    ALIAS_HISTORY,
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
from .model_card import appended, history_line, model_card


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
            test_accuracy: float | None, data_hash: str, prepared: Path) -> Promotion:
    """Register the trial run's model as `name` (once per run: a composer logged now from its checkpoint and
    the prepared data's test split), describe it, set its alias and record the move on the versions."""
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
        model_uri, card = log_composer(run_id, Path(prepared), name, study, trial_number)
        version = mlflow.register_model(model_uri, name, tags=tags)
        c.update_model_version(name, version.version, description=card(version.version))
    champion = _alias(c, name, CHAMPION)
    alias, reason = decide_alias(champion.version if champion else None, champion.tags if champion else {},
                                 version.version, val_accuracy, data_hash, val_targets)
    c.set_registered_model_alias(name, alias, version.version)
    c.set_model_version_tag(name, version.version, PROMOTION, reason)
    record_move(c, name, version.version, history_line(alias, study, reason))
    if alias == CHAMPION and champion and str(champion.version) != str(version.version):
        record_move(c, name, champion.version, history_line(f"champion lost to v{version.version}", study, reason))
    return Promotion(name, int(version.version), alias, reason)


def record_move(c, name: str, version: str, line: str) -> None:
    """The version's ALIAS_HISTORY tag, one line more: the registry shows every move of its aliases."""
    current = c.get_model_version(name, version).tags.get(ALIAS_HISTORY)
    c.set_model_version_tag(name, version, ALIAS_HISTORY, appended(current, line))


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


def log_composer(run_id: str, prepared: Path, name: str, study: str, trial: int):
    """The trial's checkpoint as a pyfunc composer (flows/sweep/composer.py) in a logged model whose source
    run is the trial's: (its URI, the card as a function of the version number).

    Only a study's best trial is ever registered, so trials do not package: that happens here, once, and
    imports torch and the music code only now. MLflow checks the input example by loading and running it."""
    import pandas as pd

    from lstm.checkpoint import load_model
    from lstm.music.compose import COMPOSER_DIR, save_composer
    from lstm.music.generate import prompts_from_test
    from lstm.music.render import midi_rhythm

    c = client()
    run = c.get_run(run_id)
    with tempfile.TemporaryDirectory() as tmp:
        model_pt = c.download_artifacts(run_id, CHECKPOINT, tmp)
        model, saved = load_model(model_pt, "cpu")
        prompt = prompts_from_test(prepared, saved["vocab"], min_prompt(prepared, saved["config"]["seq_len"]), 1)[0]
        folder = save_composer(Path(tmp) / COMPOSER_DIR, model_pt, prompt, midi_rhythm(prompt.midi_path))
        code = shutil.copytree(Path(lstm.__file__).parent, Path(tmp) / "code" / "lstm",
                               ignore=shutil.ignore_patterns("__pycache__"))
        logged = mlflow.initialize_logged_model(name="composer", source_run_id=run_id,
                                                experiment_id=run.info.experiment_id)
        info = mlflow.pyfunc.log_model(
            name="composer", python_model=str(Path(__file__).with_name("composer.py")),
            artifacts={COMPOSER_DIR: str(folder)}, code_paths=[str(code)], signature=signature(),
            input_example=(pd.DataFrame({"primer": [""]}), {"length": 8, "seed": 0}),
            pip_requirements=requirements(), model_id=logged.model_id)
    n_params = sum(p.numel() for p in model.parameters())
    manifest = load_manifest(prepared)

    def card(version: str) -> str:
        return model_card(name, version, saved["config"], n_params, manifest, Path(prepared).name,
                          run.data.metrics, study, trial, run_id)

    return info.model_uri, card


def signature() -> ModelSignature:
    """A primer column in; the piece out; the sampler's settings as params (lstm.music.compose's defaults)."""
    from lstm.music.compose import DEFAULT_SAMPLING as d

    return ModelSignature(
        inputs=Schema([ColSpec("string", "primer", required=False)]),
        outputs=Schema([ColSpec("string", "midi"), ColSpec("string", "tokens"), ColSpec("long", "notes"),
                        ColSpec("double", "seconds")]),
        params=ParamSchema([ParamSpec("length", "long", d["length"]),
                            ParamSpec("temperature", "double", d["temperature"]),
                            ParamSpec("top_k", "long", d["top_k"]), ParamSpec("seed", "long", d["seed"])]))


def min_prompt(prepared: Path, seq_len: int) -> int:
    """The primer's length: seq_len tokens, or the longest test file's when every one is shorter."""
    from lstm.music.generate import load_test_pieces

    return max(1, min(seq_len, max((len(p) for p in load_test_pieces(prepared)[0]), default=1)))


def requirements() -> list[str]:
    """What the composer needs where it is loaded, pinned to what packaged it (a CUDA torch as its release)."""
    return [f"{pkg}=={metadata.version(pkg).split('+')[0]}" for pkg in ("mlflow", "torch", "mido", "numpy", "pandas")]


def download_model_pt(uri: str, dst: str | Path) -> Path:
    """`models:/NAME@ALIAS` (or /VERSION) → a local composer folder (model.pt and its primer), or for a
    version registered as a bare model the weights-only model.pt checkpoint of its run."""
    from lstm.music.compose import PRIMER_FILE

    c = client()
    mlflow.set_tracking_uri(c.tracking_uri)
    name, _, ref = uri.removeprefix("models:/").partition("@")
    version = c.get_model_version_by_alias(name, ref) if ref else c.get_model_version(*name.split("/", 1))
    files = Path(mlflow.artifacts.download_artifacts(f"models:/{version.name}/{version.version}",
                                                     dst_path=str(dst)))
    composer = next((p.parent for p in files.rglob(PRIMER_FILE)), None)
    if composer is not None:
        return composer
    run_id = version.tags.get(MLFLOW_RUN_ID) or version.run_id
    return Path(c.download_artifacts(run_id, CHECKPOINT, str(dst)))
