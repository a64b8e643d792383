"""`lstm prepare` and the sweep's validation on a plain folder of MIDI files (no MAESTRO CSV): real files
in nested folders with mixed-case extensions, a split by hashing each path, stable as files are added."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from flows.sweep.params import validate
from lstm.data.folder import share
from lstm.data.tokens import midi_tokens

MIDI = Path(__file__).parent / "midi"

SUFFIXES = (".mid", ".MID", ".Midi", ".midi")


def run_lstm(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lstm", *args], capture_output=True, text=True, timeout=300)


def assert_one_line_error(proc: subprocess.CompletedProcess, command: str) -> str:
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"lstm {command}: error: "), proc.stderr
    return lines[0]


def expected_split(rel: str, seed: int = 0) -> str:
    """The documented rule, written out here: sha256('SEED:path') as a number in [0, 1), cut at 0.8 and 0.9."""
    u = int.from_bytes(hashlib.sha256(f"{seed}:{rel}".encode()).digest()[:8], "big") / 2**64
    return "train" if u < 0.8 else "validation" if u < 0.9 else "test"


def plain_folder(root: Path, sources: list[Path], start: int = 0) -> dict[str, Path]:
    """Copies of `sources` spread over nested folders, with every case of extension; relative path → source."""
    placed = {}
    for i, src in enumerate(sources, start):
        rel = f"{['', 'pop/', 'pop/2019/', 'Classical/Bach/'][i % 4]}{i:03d}-{Path(src).stem}{SUFFIXES[i % 4]}"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, root / rel)
        placed[rel] = src
    return placed


@pytest.fixture
def folder(tmp_path, embedded_dir) -> tuple[Path, dict[str, Path]]:
    root = tmp_path / "my-midi"
    sources = sorted(embedded_dir.glob("*/*.midi"))[:36] + [MIDI / n for n in ("known.midi", "first_part_empty.midi")]
    placed = plain_folder(root, sources)
    (root / "notes.txt").write_text("not MIDI")
    (root / "pop" / "cover.jpg").write_bytes(b"\xff\xd8")
    (root / ".hidden").mkdir()
    shutil.copyfile(MIDI / "train_a.midi", root / ".hidden" / "ignored.mid")  # e.g. a .git or .Trash folder
    return root, placed


def prepare_folder(root: Path, out: Path, cache: Path, *extra: str):
    proc = run_lstm("prepare", "--data-dir", str(root), "--out", str(out), "--cache-dir", str(cache),
                    "--seq-len", "8", "--workers", "2", *extra)
    assert proc.returncode == 0, proc.stderr
    return proc, json.loads((out / "manifest.json").read_text())


def splits_of(manifest: dict) -> dict[str, str]:
    return {f: split for split, s in manifest["splits"].items() for f in s["file_names"]}


def test_plain_folder_is_split_by_path_hash(folder, tmp_path):
    root, placed = folder
    proc, manifest = prepare_folder(root, tmp_path / "out", tmp_path / "cache")
    line = "split: a plain folder of 38 MIDI files, 80/10/10 train/validation/test by a hash of each file's relative path (seed 0)"
    assert line in proc.stdout.splitlines() and manifest["split"]["description"] == line
    assert manifest["split"]["layout"] == "folder" and manifest["split"]["ratios"] == [0.8, 0.1, 0.1]
    assert manifest["split"]["seed"] == 0 and manifest["part"] == "first"

    prepared = splits_of(manifest)
    skipped = {s["file"]: s for s in manifest["skipped"]}
    assert set(prepared) | set(skipped) == set(placed) and not set(prepared) & set(skipped)
    for rel in placed:
        split = prepared.get(rel) or skipped[rel]["split"]
        assert split == expected_split(rel), rel
    assert set(prepared.values()) == {"train", "validation", "test"}
    # the POP909-like file: skipped with the reason, not "no notes"
    empty = next(rel for rel in placed if "first_part_empty" in rel)
    assert skipped == {empty: {"file": empty, "split": expected_split(empty),
                               "reason": "first part empty; 20 notes in other parts"}}
    assert f"skipped {empty}: first part empty; 20 notes in other parts" in proc.stdout
    # the arrays hold each file's own tokens
    vocab = json.loads((tmp_path / "out" / "vocab.json").read_text())
    rel = manifest["splits"]["train"]["file_names"][0]
    tokens = np.load(tmp_path / "out" / "train_tokens.npy")
    offsets = np.load(tmp_path / "out" / "train_offsets.npy")
    assert [vocab[i] for i in tokens[offsets[0]:offsets[1]]] == midi_tokens(root / rel)


def test_adding_files_moves_no_file_and_the_seed_does(folder, embedded_dir, tmp_path):
    root, placed = folder
    _, before = prepare_folder(root, tmp_path / "a", tmp_path / "cache")
    more = plain_folder(root / "added", sorted(embedded_dir.glob("*/*.midi"))[36:46], start=100)
    _, after = prepare_folder(root, tmp_path / "b", tmp_path / "cache")
    old, new = splits_of(before), splits_of(after)
    assert {rel: new[rel] for rel in old} == old
    assert {f"added/{rel}" for rel in more} <= set(new)
    assert after["cache_hits"] == len(placed) and after["parsed"] == len(more)
    _, reseeded = prepare_folder(root, tmp_path / "c", tmp_path / "cache", "--split-seed", "1")
    assert reseeded["split"]["seed"] == 1
    assert splits_of(reseeded) != new and set(splits_of(reseeded)) == set(new)
    assert all(s == expected_split(rel, seed=1) for rel, s in splits_of(reseeded).items())


def names_cut_into(split: str, n: int, prefix: str) -> list[str]:
    """The first n names `PREFIX-i.mid` whose own hash cuts them into `split`."""
    return [rel for rel in (f"{prefix}-{i:03d}.mid" for i in range(1000)) if expected_split(rel) == split][:n]


def test_a_small_folder_gets_a_validation_and_a_test_file(embedded_dir, tmp_path):
    """The report's case: ten real performances whose hashes all fall in train's share. The files nearest the
    empty shares are lent to them; files added later move no other file, and a lent one goes home."""
    root, chorales = tmp_path / "ten", sorted(embedded_dir.glob("*/*.midi"))
    root.mkdir()
    ten = names_cut_into("train", 10, "take")
    for rel, src in zip(ten, chorales):
        shutil.copyfile(src, root / rel)
    proc, manifest = prepare_folder(root, tmp_path / "a", tmp_path / "cache")
    got = splits_of(manifest)
    lent = {rel: split for rel, split in got.items() if split != "train"}
    assert sorted(lent.values()) == ["test", "validation"] and manifest["split"]["lent"] == lent
    u = {rel: share(rel) for rel in ten}  # all below 0.8: the nearest to validation's and then test's share
    assert set(lent) == set(sorted(ten, key=u.get)[-2:])
    assert all(manifest["splits"][s]["targets"] > 0 for s in ("validation", "test"))
    assert f"validation was empty: it took {next(r for r, s in lent.items() if s == 'validation')}" in proc.stdout

    added = names_cut_into("validation", 1, "more") + names_cut_into("test", 1, "more")
    for rel, src in zip(added, chorales[10:]):
        shutil.copyfile(src, root / rel)
    _, after = prepare_folder(root, tmp_path / "b", tmp_path / "cache")
    new = splits_of(after)
    assert {rel: new[rel] for rel in ten} == dict.fromkeys(ten, "train")  # the lent files went home
    assert [new[rel] for rel in added] == ["validation", "test"] and after["split"]["lent"] == {}


def test_a_folder_of_fewer_than_three_files_fails_in_one_line(tmp_path):
    for name in ("a.mid", "b.mid"):
        shutil.copyfile(MIDI / "train_a.midi", tmp_path / name)
    proc = run_lstm("prepare", "--data-dir", str(tmp_path), "--out", str(tmp_path / "out"),
                    "--cache-dir", str(tmp_path / "cache"))
    assert "has 2 MIDI files: a plain folder needs at least 3" in assert_one_line_error(proc, "prepare")


def test_part_first_with_notes_reads_the_empty_first_part_file(folder, tmp_path):
    root, placed = folder
    _, first = prepare_folder(root, tmp_path / "a", tmp_path / "cache")
    _, with_notes = prepare_folder(root, tmp_path / "b", tmp_path / "cache", "--part", "first-with-notes")
    assert with_notes["part"] == "first-with-notes" and with_notes["skipped"] == []
    assert with_notes["cache_hits"] == 0  # the part is in the token cache key
    assert with_notes["input_hash"] != first["input_hash"]
    empty = next(rel for rel in placed if "first_part_empty" in rel)
    assert empty in splits_of(with_notes)


def test_folder_without_midi_fails_in_one_line(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "notes.txt").write_text("no MIDI here")
    proc = run_lstm("prepare", "--data-dir", str(tmp_path), "--out", str(tmp_path / "out"),
                    "--cache-dir", str(tmp_path / "cache"))
    assert "neither a MAESTRO directory" in assert_one_line_error(proc, "prepare")
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="neither a MAESTRO directory") as exc:
        validate(str(tmp_path), "smoke", 1, 1, "", "", "maestro-lstm", 0)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("extra, message", [
    (["--max-duration", "1000"], "plain folder without one"),
    (["--split-ratios", "0.8", "0.3", "0.1"], "split ratios must be"),
])
def test_folder_options_fail_in_one_line(folder, tmp_path, extra, message):
    root, _ = folder
    proc = run_lstm("prepare", "--data-dir", str(root), "--out", str(tmp_path / "out"),
                    "--cache-dir", str(tmp_path / "cache"), *extra)
    assert message in assert_one_line_error(proc, "prepare")


def test_sweep_validation_accepts_a_plain_folder(folder):
    root, _ = folder
    assert validate(str(root), "smoke", 1, 1, "", "", "maestro-lstm", 0).data_dir == root


def test_sweep_preprocessing_key_follows_the_folders_midi_files(folder):
    from flows.sweep.prepare import content_key

    root, placed = folder
    before = content_key(root)
    (root / "pop" / "lyrics.txt").write_text("not read by prepare")
    assert content_key(root) == before
    shutil.copyfile(MIDI / "train_b.midi", root / "pop" / "new.MID")
    assert content_key(root) != before


def test_sweep_refuses_max_duration_on_a_plain_folder(folder):
    root, _ = folder
    with pytest.raises(ValueError, match="plain folder of MIDI files without one"):
        validate(str(root), "smoke", 1, 1, "", "", "maestro-lstm", 0, max_duration=1000.0)
