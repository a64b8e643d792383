"""`lstm prepare`: a MAESTRO directory or a folder of MIDI files → vocabulary, token arrays and a manifest.

Every file is tokenized once per content: results (tokens, or the reason a file was skipped) are
cached per file under `cache_dir/tokens/<sha256 of content + tokenizer version + music21 version>.json`,
written as soon as that file is done, so a killed run keeps its work and a re-run parses nothing; another
music21 release (whose tokens may differ) misses the cache instead of reusing stale tokens.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lstm.baselines import data_baselines, write_hits

from .dataset import read_dataset
from .fast_midi import installed_music21
from .folder import DEFAULT_RATIOS, DEFAULT_SEED
from .maestro import SPLITS, DatasetError
from .manifest import Manifest, SplitSummary
from .parallel import map_unordered
from .targets import files_without_targets, target_counts
from .tokens import TOKENIZER_VERSION, TokenizeError, read_midi
from .vocab import UNKNOWN, UNKNOWN_ID


@dataclass
class FileResult:
    split: str
    file: str
    tokens: list[str] | None
    reason: str | None  # why the file was skipped
    cached: bool
    key: str
    reader: str | None = None  # "fast" or "music21" (None: skipped, or cached by an older version)
    declined: str | None = None  # why the fast reader handed the file to music21


def file_key(path: Path, music21: str | None = None, part: str = "first") -> str:
    """The cache key of a file's tokens: its content, our tokenizer's version and music21's (the tokens
    are music21's, so an upgrade may change them), and which part is read."""
    digest = hashlib.sha256(path.read_bytes())
    digest.update(TOKENIZER_VERSION.encode())
    digest.update(f"music21 {music21 or installed_music21()}".encode())
    digest.update(f"part {part}".encode())
    return digest.hexdigest()


def write_entry(entry: Path, value) -> None:
    """A cache entry as JSON, atomically: a killed run never leaves half an entry."""
    tmp = entry.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(value))
    tmp.replace(entry)


def _tokenize_cached(args: tuple[str, str, Path, Path, str, str]) -> FileResult:
    split, rel, path, cache, reader, part = args
    if not path.is_file():
        return FileResult(split, rel, None, "listed in the CSV but missing on disk", False, "")
    key = file_key(path, part=part)
    entry = cache / f"{key}.json"
    if entry.is_file():
        c = json.loads(entry.read_text())
        return FileResult(split, rel, c["tokens"], c["reason"], True, key, c.get("reader"), c.get("declined"))
    try:
        read = read_midi(path, reader, part)
        tokens, reason, used, declined = read.tokens, None, read.reader, read.declined
    except TokenizeError as exc:
        tokens, reason, used, declined = None, str(exc), None, None
    write_entry(entry, {"tokens": tokens, "reason": reason, "reader": used, "declined": declined})
    return FileResult(split, rel, tokens, reason, False, key, used, declined)


def tokenize_dir(data_dir: Path, cache_dir: Path, workers: int | None, pieces, reader: str = "auto",
                 part: str = "first") -> list[FileResult]:
    cache = cache_dir / "tokens"
    cache.mkdir(parents=True, exist_ok=True)
    jobs = [(p.split, p.midi_filename, data_dir / p.midi_filename, cache, reader, part) for p in pieces]
    results = list(map_unordered(_tokenize_cached, jobs, workers, desc="tokenize"))
    order = {job[1]: i for i, job in enumerate(jobs)}
    results.sort(key=lambda r: order[r.file])
    return results


def build_vocab(train_tokens: list[list[str]]) -> list[str]:
    """Train split only; id 0 is the unknown token, the rest sorted as the seed's `sorted(set(notes))`."""
    return [UNKNOWN] + sorted({t for seq in train_tokens for t in seq})


def prepare(data_dir: str | Path, out: str | Path, cache_dir: str | Path, workers: int | None = None,
            seq_len: int = 100, max_duration: float | None = None, reader: str = "auto", part: str = "first",
            split_ratios: tuple[float, float, float] = DEFAULT_RATIOS, split_seed: int = DEFAULT_SEED) -> Manifest:
    """split_ratios/split_seed: how a plain folder is split (lstm/data/folder.py); a MAESTRO CSV's split is kept."""
    data_dir, out, cache_dir = Path(data_dir), Path(out), Path(cache_dir)
    dataset = read_dataset(data_dir, max_duration, split_ratios, split_seed)
    results = tokenize_dir(data_dir, cache_dir, workers, dataset.pieces, reader, part)
    good = [r for r in results if r.tokens]
    train = [r for r in good if r.split == "train"]
    if not train:
        raise DatasetError(f"the train split of {data_dir} has no usable MIDI file")
    vocab = build_vocab([r.tokens for r in train])
    ids = {t: i for i, t in enumerate(vocab)}
    dtype = np.int16 if len(vocab) < 2**15 else np.int32

    out.mkdir(parents=True, exist_ok=True)
    splits = {}
    for split in SPLITS:
        rows = [r for r in good if r.split == split]
        arr = np.fromiter((ids.get(t, UNKNOWN_ID) for r in rows for t in r.tokens), dtype=dtype)
        offsets = np.cumsum([0] + [len(r.tokens) for r in rows], dtype=np.int64)
        np.save(out / f"{split}_tokens.npy", arr)
        np.save(out / f"{split}_offsets.npy", offsets)
        lengths = np.diff(offsets)
        splits[split] = SplitSummary(
            files=len(rows),
            tokens=int(arr.size),
            unknown_rate=float((arr == UNKNOWN_ID).mean()) if arr.size else 0.0,
            windows=int(np.clip(lengths - seq_len, 0, None).sum()),
            file_names=[r.file for r in rows],
            targets=int(target_counts(offsets).sum()),
            files_without_targets=files_without_targets(offsets),
        )
    manifest = Manifest(
        tokenizer_version=TOKENIZER_VERSION,
        music21_version=installed_music21(),
        input_hash=hashlib.sha256("".join(f"{r.split}:{r.file}:{r.key};" for r in results).encode()).hexdigest(),
        data_dir=str(data_dir.resolve()),
        seq_len=seq_len,
        max_duration=max_duration,
        split={**dataset.split, "description": dataset.describe()},
        part=part,
        vocab_size=len(vocab),
        token_dtype=np.dtype(dtype).name,
        splits=splits,
        skipped=[{"file": r.file, "split": r.split, "reason": r.reason} for r in results if not r.tokens],
        parsed=sum(not r.cached for r in results if r.key),
        cache_hits=sum(r.cached for r in results),
        readers=dict(Counter(r.reader or "unrecorded" for r in good)),
        fast_declined=dict(Counter(r.declined for r in good if r.declined).most_common()),
    )
    # Data-only work, done once here rather than by every trial: the baselines' hits, and their accuracies
    # on the targets (the same for every seq_len).
    write_hits(out)
    manifest.baselines = data_baselines(out, None)
    (out / "vocab.json").write_text(json.dumps(vocab))
    manifest.write(out)
    return manifest
