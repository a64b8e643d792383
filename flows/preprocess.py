"""Step 1 of a sweep: `lstm prepare`, once per data content.

A Prefect task cached on the content of the data directory and the tokenizer version: a second
sweep on the same data is a cache hit (the task run shows `Cached` in the UI and logs) and parses
nothing. The prepared directory is named by that same key, so every worker that shares the state
directory finds it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from prefect import get_run_logger, task

from lstm.data.corpus import build_embedded, default_cache_dir
from lstm.data.prepare import prepare
from lstm.data.tokens import TOKENIZER_VERSION

from .settings import state_dir


def content_key(data_dir: Path) -> str:
    """sha256 over every file's relative path and bytes, plus the tokenizer version."""
    digest = hashlib.sha256(TOKENIZER_VERSION.encode())
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(data_dir)).encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:20]


def _cache_key(context, parameters) -> str:
    return f"prepare-{parameters['key']}"


@task(name="prepare", cache_key_fn=_cache_key, persist_result=True, retries=1)
def prepare_task(data_dir: str, key: str, seq_len: int = 100) -> str:
    """Runs only on a cache miss; returns the prepared directory."""
    out = state_dir() / "prepared" / key
    manifest = prepare(data_dir, out, default_cache_dir(), seq_len=seq_len)
    logger = get_run_logger()
    logger.info("prepared %s: vocabulary %d, %s", data_dir, manifest["vocab_size"],
                {s: v["tokens"] for s, v in manifest["splits"].items()})
    for skip in manifest["skipped"]:
        logger.warning("skipped %s: %s", skip["file"], skip["reason"])
    return str(out)


def prepare_data(data_dir: Path | None) -> Path:
    """The prepared directory for `data_dir` (None: the embedded dataset), from Prefect's cache when it can."""
    source = data_dir or build_embedded(default_cache_dir())
    key = content_key(source)
    # A cached result whose directory was deleted would point nowhere: recompute it then.
    missing = not (state_dir() / "prepared" / key / "manifest.json").is_file()
    out = prepare_task.with_options(refresh_cache=missing)(str(source), key)
    return Path(out)
