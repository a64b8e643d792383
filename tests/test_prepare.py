"""`lstm prepare` on real MIDI: bad files skipped with a reason, train-only vocabulary, the token cache."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lstm.data.maestro import DatasetError, Piece, read_pieces, write_csv
from lstm.data.manifest import SplitSummary, load_manifest
from lstm.data.prepare import prepare
from lstm.data.tokens import midi_tokens
from lstm.data.vocab import UNKNOWN, UNKNOWN_ID

MIDI = Path(__file__).parent / "midi"
LSTM = [sys.executable, "-m", "lstm"]

TRAIN = ["train_a.midi", "train_b.midi", "train_c.midi", "known.midi"]
BAD = ["empty.midi", "corrupted.midi", "zero_bytes.midi", "text.midi", "truncated.midi"]


def maestro_dir(root: Path, rows: list[tuple[str, str | Path | None]]) -> Path:
    """A MAESTRO-layout directory: (split, source file) rows copied to YEAR/NNN-name; None: listed, not on disk."""
    pieces = []
    for i, (split, src) in enumerate(rows):
        year = 2004 + i % 3
        name = Path(src).name if src is not None else "missing.midi"
        rel = f"{year}/{i:03d}-{name}"
        if src is not None:
            (root / str(year)).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, root / rel)
        pieces.append(Piece(split, rel, 60.0 + i, "Test Composer", f"piece {i}"))
    root.mkdir(parents=True, exist_ok=True)
    write_csv(root, pieces)
    return root


def run_lstm(*args, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([*LSTM, *args], capture_output=True, text=True, timeout=timeout)


def assert_one_line_error(proc: subprocess.CompletedProcess, command: str) -> str:
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"lstm {command}: error: "), lines[0]
    return lines[0]


@pytest.fixture
def bad_dir(tmp_path, embedded_dir) -> tuple[Path, list[str]]:
    """Good files (ours plus two embedded chorale files), every kind of bad file, and a missing one."""
    chorales = sorted(embedded_dir.glob("*/*.midi"))[:2]
    rows = [("train", MIDI / n) for n in TRAIN] + [("train", p) for p in chorales]
    rows += [("validation", MIDI / "rare_val.midi"), ("test", MIDI / "rare_test.midi")]
    good = len(rows)
    rows += [(split, MIDI / n) for split, n in zip(["train", "validation", "test", "train", "train"], BAD)]
    rows += [("test", None)]
    data = maestro_dir(tmp_path / "maestro", rows)
    rels = [p.midi_filename for p in read_pieces(data)]
    return data, rels[:good], rels[good:]


def test_bad_inputs_are_skipped_with_a_reason(bad_dir, tmp_path):
    data, good, bad = bad_dir
    out = tmp_path / "out"
    proc = run_lstm("prepare", "--data-dir", str(data), "--out", str(out), "--cache-dir", str(tmp_path / "cache"),
                    "--seq-len", "8", "--workers", "2")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    manifest = json.loads((out / "manifest.json").read_text())

    skipped = {s["file"]: s for s in manifest["skipped"]}
    assert sorted(skipped) == sorted(bad)
    expected = {"empty.midi": "no notes", "corrupted.midi": "unreadable MIDI", "zero_bytes.midi": "empty file",
                "text.midi": "not a MIDI file", "truncated.midi": "truncated MIDI", "missing.midi": "missing on disk"}
    for rel, s in skipped.items():
        assert s["reason"] and "\n" not in s["reason"], s
        assert expected[rel.split("-", 1)[1]] in s["reason"], s
        assert f"skipped {rel}: {s['reason']}" in proc.stdout

    # Every good file is prepared, in CSV order, with its tokens.
    prepared = [f for split in ("train", "validation", "test") for f in manifest["splits"][split]["file_names"]]
    assert sorted(prepared) == sorted(good)
    vocab = json.loads((out / "vocab.json").read_text())
    ids = {t: i for i, t in enumerate(vocab)}
    for split in ("train", "validation", "test"):
        tokens, offsets = np.load(out / f"{split}_tokens.npy"), np.load(out / f"{split}_offsets.npy")
        names = manifest["splits"][split]["file_names"]
        assert len(offsets) == len(names) + 1 and offsets[-1] == len(tokens) == manifest["splits"][split]["tokens"]
        for name, a, b in zip(names, offsets[:-1], offsets[1:]):
            assert tokens[a:b].tolist() == [ids.get(t, UNKNOWN_ID) for t in midi_tokens(data / name)], name
    assert manifest["splits"]["train"]["files"] == len(TRAIN) + 2


def test_both_readers_prepare_the_same_arrays(bad_dir, tmp_path):
    data, good, bad = bad_dir
    outs = {}
    for reader in ("auto", "music21"):
        outs[reader] = tmp_path / reader
        proc = run_lstm("prepare", "--data-dir", str(data), "--out", str(outs[reader]), "--reader", reader,
                        "--cache-dir", str(tmp_path / f"cache-{reader}"), "--seq-len", "8", "--workers", "2")
        assert proc.returncode == 0, proc.stderr
        readers = json.loads((outs[reader] / "manifest.json").read_text())["readers"]
        assert readers == {"fast" if reader == "auto" else "music21": len(good)}, readers
        assert f"read by: {len(good)} {'fast' if reader == 'auto' else 'music21'}" in proc.stdout
    for name in ("vocab.json", "train_tokens.npy", "validation_tokens.npy", "test_tokens.npy", "test_offsets.npy"):
        assert (outs["auto"] / name).read_bytes() == (outs["music21"] / name).read_bytes(), name


def test_not_a_maestro_dir_fails_in_one_line(tmp_path):
    (tmp_path / "notes.txt").write_text("no CSV here")
    proc = run_lstm("prepare", "--data-dir", str(tmp_path), "--out", str(tmp_path / "out"),
                    "--cache-dir", str(tmp_path / "cache"))
    assert "neither a MAESTRO directory" in assert_one_line_error(proc, "prepare")
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_missing_dir_fails_in_one_line(tmp_path):
    proc = run_lstm("prepare", "--data-dir", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out"),
                    "--cache-dir", str(tmp_path / "cache"))
    assert "does not exist" in assert_one_line_error(proc, "prepare")


def test_csv_without_maestro_columns_fails_in_one_line(tmp_path):
    (tmp_path / "maestro-v3.0.0.csv").write_text("title,file\nx,y.midi\n")
    proc = run_lstm("prepare", "--data-dir", str(tmp_path), "--out", str(tmp_path / "out"),
                    "--cache-dir", str(tmp_path / "cache"))
    assert "lacks the MAESTRO columns" in assert_one_line_error(proc, "prepare")


def test_train_split_without_usable_file_fails_in_one_line(tmp_path):
    data = maestro_dir(tmp_path / "maestro", [("train", MIDI / "empty.midi"), ("train", MIDI / "zero_bytes.midi"),
                                              ("train", None), ("validation", MIDI / "train_a.midi")])
    proc = run_lstm("prepare", "--data-dir", str(data), "--out", str(tmp_path / "out"),
                    "--cache-dir", str(tmp_path / "cache"), "--workers", "1")
    assert "train split" in assert_one_line_error(proc, "prepare")
    with pytest.raises(DatasetError, match="no usable MIDI file"):
        prepare(data, tmp_path / "out2", tmp_path / "cache", workers=1)


def test_vocabulary_comes_from_train_only(tmp_path):
    data = maestro_dir(tmp_path / "maestro", [("train", MIDI / n) for n in TRAIN]
                       + [("validation", MIDI / "rare_val.midi"), ("test", MIDI / "rare_test.midi")])
    out = tmp_path / "out"
    manifest = prepare(data, out, tmp_path / "cache", workers=1, seq_len=8)
    vocab = json.loads((out / "vocab.json").read_text())

    train_tokens = {t for n in TRAIN for t in midi_tokens(MIDI / n)}
    assert vocab == [UNKNOWN, *sorted(train_tokens)]
    assert manifest.vocab_size == len(vocab)
    for only_later in ("C#7", "A0", "0.3.6"):  # in validation/test files only
        assert only_later not in vocab
    assert manifest.splits["train"].unknown_rate == 0.0

    for split, name, rare in (("validation", "rare_val.midi", {"C#7"}), ("test", "rare_test.midi", {"A0", "0.3.6"})):
        tokens = midi_tokens(MIDI / name)
        ids = np.load(out / f"{split}_tokens.npy")
        assert len(ids) == len(tokens)
        unknown = [i for i, t in enumerate(tokens) if t not in vocab]
        assert {tokens[i] for i in unknown} == rare
        assert (ids[unknown] == UNKNOWN_ID).all()
        assert (ids != UNKNOWN_ID).sum() == len(tokens) - len(unknown)
        measured = len(unknown) / len(tokens)
        assert manifest.splits[split].unknown_rate == pytest.approx(measured, abs=1e-12)
        assert manifest.splits[split].unknown_rate > 0
    assert manifest.splits["validation"].unknown_rate == pytest.approx(4 / 36)
    assert manifest.splits["test"].unknown_rate == pytest.approx(2 / 38)


def test_window_counts_in_manifest(tmp_path):
    data = maestro_dir(tmp_path / "maestro", [("train", MIDI / "train_a.midi"), ("train", MIDI / "short.midi"),
                                              ("train", MIDI / "known.midi"), ("test", MIDI / "train_b.midi")])
    manifest = prepare(data, tmp_path / "out", tmp_path / "cache", workers=1, seq_len=16)
    assert manifest.splits["train"].windows == (41 - 16) + 0 + 0
    assert manifest.splits["test"].windows == 50 - 16
    assert manifest.splits["validation"] == SplitSummary(files=0, tokens=0, unknown_rate=0.0, windows=0,
                                                         file_names=[], targets=0, files_without_targets=0)
    # the common targets need 100 tokens before them: these files are all shorter, and said to be
    assert (manifest.splits["train"].targets, manifest.splits["train"].files_without_targets) == (0, 3)
    assert (manifest.splits["test"].targets, manifest.splits["test"].files_without_targets) == (0, 1)


def test_cache_hit_on_second_run(tmp_path):
    files = [("train", MIDI / n) for n in TRAIN] + [("validation", MIDI / "rare_val.midi"),
                                                   ("test", MIDI / "rare_test.midi"), ("train", MIDI / "empty.midi")]
    data = maestro_dir(tmp_path / "maestro", files)
    cache = tmp_path / "cache"
    first = prepare(data, tmp_path / "one", cache, workers=2, seq_len=8)
    assert (first.parsed, first.cache_hits) == (len(files), 0)
    assert len(list((cache / "tokens").glob("*.json"))) == len(files)
    second = prepare(data, tmp_path / "two", cache, workers=2, seq_len=8)
    assert (second.parsed, second.cache_hits) == (0, len(files))
    assert second.skipped == first.skipped and len(first.skipped) == 1  # a refusal is cached too
    assert second.input_hash == first.input_hash
    for name in ("vocab.json", *(f"{s}_{k}.npy" for s in ("train", "validation", "test") for k in ("tokens", "offsets"))):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name


def test_cache_is_keyed_by_content(tmp_path):
    cache = tmp_path / "cache"
    data = maestro_dir(tmp_path / "maestro", [("train", MIDI / "train_a.midi"), ("train", MIDI / "train_b.midi")])
    prepare(data, tmp_path / "one", cache, workers=1)
    # Same name, new content: parsed again, and the new tokens are used.
    rel = read_pieces(data)[0].midi_filename
    shutil.copyfile(MIDI / "train_c.midi", data / rel)
    m = prepare(data, tmp_path / "two", cache, workers=1)
    assert (m.parsed, m.cache_hits) == (1, 1)
    assert "7.11.2" in json.loads((tmp_path / "two" / "vocab.json").read_text())
    assert m.input_hash != json.loads((tmp_path / "one" / "manifest.json").read_text())["input_hash"]


def test_interrupted_run_keeps_finished_files(tmp_path):
    """A run that only got through some files (here: a CSV listing a subset) leaves their entries; the full
    run then parses only the rest."""
    rows = [("train", MIDI / n) for n in TRAIN] + [("validation", MIDI / "rare_val.midi"),
                                                  ("test", MIDI / "rare_test.midi")]
    cache = tmp_path / "cache"
    partial = maestro_dir(tmp_path / "partial", rows[:3])
    prepare(partial, tmp_path / "p", cache, workers=1, seq_len=8)
    assert not list((cache / "tokens").glob("*.tmp*")), "no half-written entry is left"

    full = maestro_dir(tmp_path / "full", rows)
    m = prepare(full, tmp_path / "f", cache, workers=2, seq_len=8)
    assert (m.parsed, m.cache_hits) == (len(rows) - 3, 3)
    fresh = prepare(full, tmp_path / "fresh", tmp_path / "cache2", workers=1, seq_len=8)
    assert fresh.parsed == len(rows)
    for s in ("train", "validation", "test"):
        assert np.array_equal(np.load(tmp_path / "f" / f"{s}_tokens.npy"), np.load(tmp_path / "fresh" / f"{s}_tokens.npy"))


def test_embedded_second_prepare_hits_the_cache(prepared, embedded_dir, cache_dir, tmp_path):
    first = load_manifest(prepared)
    n_files = len(read_pieces(embedded_dir))
    assert n_files == 50 and not first.skipped
    assert first.parsed + first.cache_hits == n_files
    again = prepare(embedded_dir, tmp_path / "again", cache_dir, workers=1, seq_len=32)
    assert (again.parsed, again.cache_hits) == (0, n_files)
    assert again.splits == first.splits and again.input_hash == first.input_hash
    assert json.loads((tmp_path / "again" / "vocab.json").read_text()) == json.loads((prepared / "vocab.json").read_text())
    for s in ("train", "validation", "test"):
        for k in ("tokens", "offsets"):
            assert np.array_equal(np.load(tmp_path / "again" / f"{s}_{k}.npy"), np.load(prepared / f"{s}_{k}.npy"))


def test_embedded_prepared_data(prepared):
    m = load_manifest(prepared)
    vocab = json.loads((prepared / "vocab.json").read_text())
    assert vocab[0] == UNKNOWN and vocab[1:] == sorted(set(vocab[1:]))
    assert m.vocab_size == len(vocab) and m.seq_len == 32
    assert [m.splits[s].files for s in ("train", "validation", "test")] == [40, 5, 5]
    train = np.load(prepared / "train_tokens.npy")
    assert train.dtype == np.int16 and train.min() >= 1 and train.max() < len(vocab)  # no <unk> in train
    assert set(np.unique(train).tolist()) == set(range(1, len(vocab)))  # every vocabulary token occurs in train
