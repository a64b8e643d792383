"""The description of a registered version (the registry UI shows it): what the model is, what it was
trained on, how it scored beside the baselines, where it came from and the three lines that use it."""

from __future__ import annotations

from datetime import UTC, datetime

from lstm.data.manifest import Manifest
from lstm.seed import SEED

from ..names import TEST_ACCURACY, VAL_ACCURACY, baseline_metric

HISTORY_CHARS = 4000  # a model version tag holds at most 5000 characters: the oldest moves drop out


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2%}"


def model_card(name: str, version: str, config: dict, n_params: int, manifest: Manifest, data_key: str,
               metrics: dict, study: str, trial: int, run_id: str) -> str:
    files = {split: len(s.file_names) for split, s in manifest.splits.items()}
    tokens = {split: s.tokens for split, s in manifest.splits.items()}
    uri = f"models:/{name}/{version}"
    arch = (f"`{config.get('model', 'embed')}` LSTM, hidden sizes {config.get('hidden_sizes')}, context "
            f"{config.get('seq_len')} tokens, vocabulary {manifest.vocab_size:,}, {n_params:,} parameters")
    return "\n".join([
        f"# {name} v{version}: a next-note composer for piano MIDI",
        "",
        f"**Model.** {arch}. An MLflow pyfunc model: a MIDI primer (base64, or empty) in, a sampled "
        "continuation (base64 MIDI) out; it carries its weights, vocabulary and sampler and runs on a CPU.",
        "",
        f"**Data.** `{data_key}` (data hash {manifest.input_hash[:12]}): "
        + ", ".join(f"{split} {files[split]} files / {tokens[split]:,} tokens" for split in files)
        + f"; tokenizer {manifest.tokenizer_version}, music21 {manifest.music21_version}, part `{manifest.part}`.",
        "",
        "**Accuracy** (top-1 next token, the same targets for every model):",
        "",
        "| | validation | test |",
        "|---|---|---|",
        f"| this model | {pct(metrics.get(VAL_ACCURACY))} | {pct(metrics.get(TEST_ACCURACY))} |",
        f"| most-frequent baseline | | {pct(metrics.get(baseline_metric('most_frequent')))} |",
        f"| bigram baseline | | {pct(metrics.get(baseline_metric('bigram')))} |",
        f"| seed report (MAESTRO) | {pct(SEED.val_accuracy)} | {pct(SEED.test_accuracy)} |",
        "",
        f"**From** study `{study}`, trial {trial}, MLflow run `{run_id}`.",
        "",
        "**Use** (with `MLFLOW_TRACKING_URI` set):",
        "```",
        f"python -c 'import mlflow, pandas as pd; print(mlflow.pyfunc.load_model(\"{uri}\")"
        ".predict(pd.DataFrame({\"primer\": [\"\"]}), params={\"length\": 64, \"seed\": 1}))'",
        f"mlflow models serve -m {uri} --env-manager local -p 5001",
        "curl -s localhost:5001/invocations -H 'Content-Type: application/json' "
        "-d '{\"dataframe_records\": [{\"primer\": \"\"}], \"params\": {\"length\": 64, \"seed\": 1}}'",
        "```",
    ])


def history_line(alias: str, study: str, reason: str) -> str:
    """One alias move, for the version's history tag: when, which alias, by which study, and why."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"{now}: {alias} by study {study} ({reason})"


def appended(history: str | None, line: str) -> str:
    return "\n".join(filter(None, [history, line]))[-HISTORY_CHARS:]
