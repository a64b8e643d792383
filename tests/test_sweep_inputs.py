"""What a sweep keys its preprocessing on, and which registered model its best trial goes to (no servers)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from flows.sweep.params import validate
from flows.sweep.prepare import content_key
from flows.sweep.registry import EMBEDDED_MODEL, MAESTRO_MODEL, registered_name
from lstm.bench.random_midi import performance
from lstm.data.maestro import Piece, write_csv


@pytest.fixture
def maestro_dir(tmp_path) -> Path:
    """A MAESTRO-layout directory: three MIDI files (one 1,200 s long), the CSV, a WAV beside each."""
    root = tmp_path / "maestro-v3.0.0"
    pieces = []
    for i, (split, duration) in enumerate([("train", 300.0), ("validation", 1200.0), ("test", 200.0)]):
        rel = f"2018/piece-{i}.midi"
        (root / "2018").mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(performance(i))
        (root / rel.replace(".midi", ".wav")).write_bytes(b"RIFF" + bytes(64))
        pieces.append(Piece(split, rel, duration, "Composer", f"Piece {i}"))
    write_csv(root, pieces)
    return root


def test_a_changed_midi_changes_the_key(maestro_dir):
    before = content_key(maestro_dir)
    midi = maestro_dir / "2018/piece-0.midi"
    original = midi.read_bytes()
    midi.write_bytes(original[:-5] + bytes([original[-5] ^ 1]) + original[-4:])  # one bit, same size
    assert content_key(maestro_dir) != before
    midi.write_bytes(original)
    assert content_key(maestro_dir) == before


def test_audio_and_unlisted_files_do_not_change_the_key(maestro_dir):
    before = content_key(maestro_dir)
    (maestro_dir / "2018/piece-0.wav").write_bytes(b"RIFF" + bytes(128))
    (maestro_dir / "2018/new.wav").write_bytes(b"RIFF")
    (maestro_dir / "2018/unlisted.midi").write_bytes(performance(9))
    assert content_key(maestro_dir) == before


def test_the_csv_a_missing_file_and_the_settings_change_the_key(maestro_dir):
    before = content_key(maestro_dir)
    assert content_key(maestro_dir, max_duration=1000.0) != before
    assert content_key(maestro_dir, seq_len=32) != before
    assert content_key(maestro_dir, reader="music21") != before
    midi = maestro_dir / "2018/piece-2.midi"
    data = midi.read_bytes()
    midi.unlink()  # listed in the CSV but not on disk: prepare skips it, its arrival must count
    missing = content_key(maestro_dir)
    assert missing != before
    midi.write_bytes(data)
    assert content_key(maestro_dir) == before
    csv = maestro_dir / "maestro-v3.0.0.csv"
    csv.write_text(csv.read_text().replace(",test,", ",train,"))
    assert content_key(maestro_dir) != before


def test_max_duration_is_validated(maestro_dir):
    def sweep(**kw):
        return validate(str(maestro_dir), "smoke", 1, 1, "", "", "maestro-lstm", 0, **kw)

    assert sweep().max_duration is None
    assert sweep(max_duration=1000.0).max_duration == 1000.0
    for bad in (0.0, -1.0, math.nan):
        with pytest.raises(ValueError, match="max_duration must be a positive number"):
            sweep(max_duration=bad)


def test_a_folder_of_fewer_than_three_files_is_refused_before_anything_runs(tmp_path):
    (tmp_path / "a.mid").write_bytes(performance(1))
    (tmp_path / "b.mid").write_bytes(performance(2))
    with pytest.raises(ValueError, match="has 2 MIDI files: a plain folder needs at least 3"):
        validate(str(tmp_path), "smoke", 1, 1, "", "", "x", 0)


def test_each_data_set_has_its_own_registered_model(maestro_dir, tmp_path):
    plain = tmp_path / "My Bach MIDI"
    plain.mkdir()
    for i, name in enumerate(("a", "b", "c"), 1):  # a folder needs three files: one a split
        (plain / f"{name}.mid").write_bytes(performance(i))
    assert registered_name(None) == EMBEDDED_MODEL == "chorales-lstm"
    assert registered_name(maestro_dir) == MAESTRO_MODEL == "maestro-lstm"
    assert registered_name(plain) == "my-bach-midi-lstm"
    p = validate(str(maestro_dir), "smoke", 1, 1, "", "", "maestro-lstm", 0)
    assert p.model_name == "maestro-lstm"
    assert validate("", "smoke", 1, 1, "", "", "maestro-lstm", 0).model_name == "chorales-lstm"
    assert validate(str(plain), "smoke", 1, 1, "", "", "x", 0).model_name == "my-bach-midi-lstm"
    assert validate("", "smoke", 1, 1, "", "", "x", 0, model_name="mine").model_name == "mine"
    with pytest.raises(ValueError, match="model_name"):
        validate("", "smoke", 1, 1, "", "", "x", 0, model_name="a/b")


def test_what_lstm_prepare_takes_is_part_of_the_key(maestro_dir, tmp_path):
    """A different part, reader or split prepares again (a plain folder's split: its ratios and seed)."""
    plain = tmp_path / "plain"
    plain.mkdir()
    for i in range(6):
        (plain / f"{i}.mid").write_bytes(performance(i))
    before = content_key(plain)
    assert content_key(plain, part="first-with-notes") != before
    assert content_key(plain, split_ratios=(0.6, 0.2, 0.2)) != before
    assert content_key(plain, split_seed=1) != before
    assert content_key(plain, split_ratios=(0.8, 0.1, 0.1), split_seed=0) == before
    p = validate(str(plain), "smoke", 1, 1, "", "", "x", 0, part="first-with-notes", reader="music21",
                 split_ratios=[0.6, 0.2, 0.2], split_seed=4)
    assert p.prepare == {"part": "first-with-notes", "reader": "music21", "split_ratios": (0.6, 0.2, 0.2),
                         "split_seed": 4}
    assert content_key(plain, **p.prepare) != before
    assert validate("", "smoke", 1, 1, "", "", "x", 0).prepare == {
        "part": "first", "reader": "auto", "split_ratios": (0.8, 0.1, 0.1), "split_seed": 0}


@pytest.mark.parametrize("options, message", [
    ({"part": "last"}, "unknown part 'last': choose one of first, first-with-notes"),
    ({"reader": "fast"}, "unknown reader 'fast': choose one of auto, music21"),
    ({"split_ratios": [0.5, 0.5]}, "split ratios must be three shares"),
    ({"split_ratios": [0.9, 0.2, 0.1]}, "add up to 1"),
])
def test_bad_prepare_options_are_one_line(options, message):
    with pytest.raises(ValueError, match="^[^\n]*$") as exc:
        validate("", "smoke", 1, 1, "", "", "x", 0, **options)
    assert message in str(exc.value)


def test_a_maestro_directory_keeps_its_csv_s_split(maestro_dir):
    with pytest.raises(ValueError, match="split_ratios and split_seed split a plain folder; data_dir .* is a "
                                         "MAESTRO directory, whose CSV's split is kept"):
        validate(str(maestro_dir), "smoke", 1, 1, "", "", "x", 0, split_seed=3)
