"""Step 1 of a sweep: `lstm prepare`, once per input and settings.

A Prefect task cached on what preprocessing reads (the CSV and the MIDI files it lists; a plain folder's
MIDI files) and on every setting that changes its result: a second sweep on the same data is a cache hit
(the task run shows `Cached` in the UI and logs) and parses nothing. The prepared directory is named by
that same key, so every worker that shares the state directory finds it.

The key hashes only the files preprocessing reads, never the rest of the directory: MAESTRO v3 as
downloaded carries ~120 GB of WAV beside its ~100 MB of MIDI, which would take minutes to hash. The MIDI
files are hashed by content (in chunks, `hashlib.file_digest`), not by size and mtime: content is what
decides the tokens, a copy or an edit that keeps size and mtime must still change the key, and hashing
MAESTRO's MIDI takes well under a second (docs/performance.md).
"""

from __future__ import annotations

import hashlib
import json
from importlib.metadata import version
from pathlib import Path

from prefect import get_run_logger, task

from lstm.data.corpus import build_embedded, default_cache_dir
from lstm.data.dataset import read_dataset
from lstm.data.folder import DEFAULT_RATIOS, DEFAULT_SEED
from lstm.data.maestro import find_csv
from lstm.data.prepare import prepare
from lstm.data.tokens import TOKENIZER_VERSION

from ..settings import state_dir

SPLIT_RULE = 2  # bump when lstm.data.folder splits a folder otherwise (2: every split gets a file)
SEQ_LEN = 100  # the prepared arrays' window count (manifest) is stated for this length; trials cut their own


def input_files(data_dir: Path, max_duration: float | None = None,
                split_ratios: tuple[float, float, float] = DEFAULT_RATIOS, split_seed: int = DEFAULT_SEED) -> list[Path]:
    """What `prepare` reads from `data_dir`: the CSV, then the MIDI files it lists and keeps; for a plain
    folder, its MIDI files (their paths decide their split)."""
    dataset = read_dataset(data_dir, max_duration, split_ratios, split_seed)
    csv = [find_csv(data_dir)] if dataset.layout == "maestro" else []
    return csv + [data_dir / p.midi_filename for p in dataset.pieces]


def settings(max_duration: float | None, seq_len: int, reader: str, part: str = "first",
             split_ratios: tuple[float, float, float] = DEFAULT_RATIOS, split_seed: int = DEFAULT_SEED) -> dict:
    """Every setting that changes what `prepare` makes of the same files."""
    return {"tokenizer": TOKENIZER_VERSION, "music21": version("music21"),  # metadata: no music21 import
            "max_duration": max_duration, "seq_len": seq_len, "reader": reader, "part": part,
            "split_ratios": list(split_ratios), "split_seed": split_seed,  # how a plain folder is split
            "split_rule": SPLIT_RULE}


def content_key(data_dir: Path, max_duration: float | None = None, seq_len: int = SEQ_LEN,
                reader: str = "auto", part: str = "first", split_ratios: tuple[float, float, float] = DEFAULT_RATIOS,
                split_seed: int = DEFAULT_SEED) -> str:
    """sha256 over the settings, then each input file's relative path and content (a missing file counts as
    missing: `prepare` skips it, and its arrival must change the key)."""
    digest = hashlib.sha256(json.dumps(settings(max_duration, seq_len, reader, part, split_ratios, split_seed),
                                       sort_keys=True).encode())
    for path in input_files(data_dir, max_duration, split_ratios, split_seed):
        digest.update(str(path.relative_to(data_dir)).encode() + b"\0")
        try:
            with path.open("rb") as fh:
                digest.update(hashlib.file_digest(fh, "sha256").digest())
        except FileNotFoundError:
            digest.update(b"missing")
    return digest.hexdigest()[:20]


def _cache_key(context, parameters) -> str:
    return f"prepare-{parameters['key']}"


@task(name="prepare", cache_key_fn=_cache_key, persist_result=True, retries=1)
def prepare_task(data_dir: str, key: str, seq_len: int = SEQ_LEN, max_duration: float | None = None,
                 reader: str = "auto", part: str = "first", split_ratios: tuple[float, float, float] = DEFAULT_RATIOS,
                 split_seed: int = DEFAULT_SEED) -> str:
    """Runs only on a cache miss; returns the prepared directory."""
    out = state_dir() / "prepared" / key
    manifest = prepare(data_dir, out, default_cache_dir(), seq_len=seq_len, max_duration=max_duration,
                       reader=reader, part=part, split_ratios=tuple(split_ratios), split_seed=split_seed)
    logger = get_run_logger()
    logger.info("prepared %s: vocabulary %d, %s; %s", data_dir, manifest.vocab_size,
                {s: v.tokens for s, v in manifest.splits.items()}, manifest.split["description"])
    for skip in manifest.skipped:
        logger.warning("skipped %s: %s", skip["file"], skip["reason"])
    return str(out)


def prepare_data(data_dir: Path | None, max_duration: float | None = None, options: dict | None = None) -> Path:
    """The prepared directory for `data_dir` (None: the embedded dataset), from Prefect's cache when it can.
    `options`: what `lstm prepare` takes besides (part, reader, split_ratios, split_seed; params.py)."""
    source = data_dir or build_embedded(default_cache_dir())
    options = options or {}
    key = content_key(source, max_duration, **options)
    # A cached result whose directory was deleted would point nowhere: recompute it then.
    missing = not (state_dir() / "prepared" / key / "manifest.json").is_file()
    out = prepare_task.with_options(refresh_cache=missing)(str(source), key, max_duration=max_duration, **options)
    return Path(out)
