"""Seed tokens from real MIDI files (tests/midi, written by tests/midi/make_midis.py)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from lstm.data.tokens import READERS, TokenizeError, midi_tokens
from lstm.data.vocab import UNKNOWN, chord_token, note_token, token_class

MIDI = Path(__file__).parent / "midi"

BROKEN = {  # file → the start of the reason it is refused
    "zero_bytes.midi": "empty file (0 bytes)",
    "text.midi": "not a MIDI file",
    "empty.midi": "no notes or chords",
    "corrupted.midi": "unreadable MIDI",
    "truncated.midi": "truncated MIDI",
    "header_only.midi": "truncated MIDI",
    # not broken: the seed's first part is empty (POP909 and the like); --part first-with-notes reads them
    "first_part_empty.midi": "first part empty; 20 notes in other parts",
    "drums_first.midi": "first part empty; 20 notes in other parts",
}
FIRST_PART_EMPTY = ("first_part_empty.midi", "drums_first.midi")


def test_known_notes_and_chord():
    # C4, E-4, the chord C4-E4-G4, F#5: notes keep their octave, the chord becomes its normal order.
    assert midi_tokens(MIDI / "known.midi") == ["C4", "E-4", "0.4.7", "F#5"]


def load_make_midis():
    spec = importlib.util.spec_from_file_location("make_midis", MIDI / "make_midis.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_good_file_gives_what_was_written():
    make = load_make_midis()
    assert set(make.GOOD) | set(BROKEN) == {p.name for p in MIDI.glob("*.midi")}
    for name, items in make.GOOD.items():
        assert midi_tokens(MIDI / name) == [make.token_of(i) for i in items], name


def test_melody_with_chords_in_time_order():
    tokens = midi_tokens(MIDI / "train_b.midi")
    assert tokens == ["G4", "E4", "C4", "E4", "G4", "C5", "B4", "A4", "G4", "F4", "E4", "D4"] * 4 + ["7.11.2", "0.4.7"]


def test_chord_voicing_and_octave_are_lost():
    # G3-B3-D4 and the same chord an octave up give one token; C-E-G in any voicing is 0.4.7.
    from music21 import chord, pitch

    assert chord_token(chord.Chord(["G3", "B3", "D4"]).normalOrder) == "7.11.2"
    assert chord_token(chord.Chord(["G4", "B4", "D5"]).normalOrder) == "7.11.2"
    assert chord_token(chord.Chord(["E3", "G3", "C5"]).normalOrder) == "0.4.7"
    assert note_token(pitch.Pitch("E-4")) == "E-4"
    assert note_token(pitch.Pitch("E-5")) != note_token(pitch.Pitch("E-4"))


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_file_gives_one_line_reason(name, reader):
    """Both readers give the same reason (the fast one declines what it does not model to music21)."""
    with pytest.raises(TokenizeError) as exc:
        midi_tokens(MIDI / name, reader)
    reason = str(exc.value)
    assert reason.startswith(BROKEN[name]), reason
    assert "\n" not in reason and reason.strip() == reason


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("name", FIRST_PART_EMPTY)
def test_first_part_with_notes_reads_the_music(name, reader):
    assert midi_tokens(MIDI / name, reader, part="first-with-notes") == ["C4", "E4", "G4", "C5"] * 5
    # a file whose first part has notes reads the same either way
    assert midi_tokens(MIDI / "train_b.midi", reader, part="first-with-notes") == midi_tokens(MIDI / "train_b.midi")


def test_truncated_file_is_refused_not_cut_short():
    # music21 alone reads a file cut in the middle of a track as a shorter piece: midi_tokens must not.
    from music21 import converter

    from lstm.data.tokens import stream_tokens

    partial = stream_tokens(converter.parse(MIDI / "truncated.midi", format="midi"))
    assert 0 < len(partial) < len(midi_tokens(MIDI / "train_a.midi"))
    with pytest.raises(TokenizeError, match="truncated"):
        midi_tokens(MIDI / "truncated.midi")


def test_trailing_bytes_after_the_last_track_are_accepted(tmp_path):
    data = (MIDI / "known.midi").read_bytes()
    padded = tmp_path / "padded.midi"
    padded.write_bytes(data + b"\x00" * 16)
    assert midi_tokens(padded) == midi_tokens(MIDI / "known.midi")


def test_embedded_file_tokenizes(embedded_dir):
    first = sorted(embedded_dir.glob("*/*.midi"))[0]
    tokens = midi_tokens(first)
    assert len(tokens) > 100
    assert all(isinstance(t, str) and t for t in tokens)
    assert any("." in t for t in tokens), "simultaneous chorale voices should give chord tokens"


@pytest.mark.parametrize("token, cls", [
    ("E-4", "E-"), ("F#5", "F#"), ("B-3", "B-"), ("0.4.7", "chord"), ("7.11.2", "chord"), ("11", "chord"),
    (UNKNOWN, "unknown"), ("C#4", "C#"), ("D-4", "C#"), ("G4", "G"), ("D2", "D"), ("C4", "C"),
    ("B#3", "C"), ("C-4", "B"), ("E--4", "D"), ("A#0", "B-"), ("G#7", "G#"), ("A-2", "G#"),
])
def test_token_class(token, cls):
    assert token_class(token) == cls


def test_make_midis_regenerates_the_same_files(tmp_path):
    subprocess.run([sys.executable, str(MIDI / "make_midis.py"), str(tmp_path)], check=True, timeout=120)
    committed = sorted(p.name for p in MIDI.glob("*.midi"))
    assert sorted(p.name for p in tmp_path.glob("*.midi")) == committed
    for name in committed:
        if name in BROKEN:
            with pytest.raises(TokenizeError) as exc:
                midi_tokens(tmp_path / name)
            assert str(exc.value).startswith(BROKEN[name])
        else:
            assert midi_tokens(tmp_path / name) == midi_tokens(MIDI / name), name
