"""Sampled tokens → a playable piece: a rhythm from a real MIDI file, pitches, a MIDI file.

A note token is that pitch; a chord token (normal order, octave lost) becomes one pitch per pitch
class, voiced upwards from the first pitch class in octave 4 (`7.11.2` → G4 B4 D5; a single pitch
class becomes an octave). The rhythm is (inter-onset interval, duration) pairs of consecutive
notes/chords of a real MIDI file, snapped to sixteenths, one pair drawn per event; the tempo is the
file's first metronome mark. The piece is in 4/4 and a note is cut at the barline and where its
pitch strikes again, so the written MIDI tokenizes back to exactly the sampled tokens.
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from mido import Message, MetaMessage

from lstm.data.vocab import UNKNOWN

from . import midi_file
from .metrics import chord_pitch_classes, is_chord

GRID = 0.25  # beats: the rhythm is snapped to sixteenths
BAR = 4.0  # beats: the piece is in 4/4; music21 splits a note across a barline into two tokens
CHORD_BASE = 60  # C4: a chord's first pitch class is voiced in octave 4
DEFAULT_TEMPO = 120.0
STEPS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
NOTE_NAME = re.compile(r"([A-G])([#-]*)(\d+)")
# (inter-onset interval, duration) in beats, drawn uniformly: repeats weight a pair. Mostly eighths,
# some sixteenths and quarters, a few dotted and half notes.
DEFAULT_RHYTHM = ((0.5, 0.5),) * 9 + ((0.25, 0.25),) * 4 + ((1.0, 1.0),) * 4 + (
    (0.75, 0.75), (1.5, 1.5), (2.0, 2.0))


@dataclass
class Rhythm:
    pairs: list[tuple[float, float]]  # (inter-onset interval, duration) in beats
    tempo: float  # quarter notes a minute
    source: str  # where it came from, for messages


@dataclass
class Event:
    token: str
    offset: float  # beats
    duration: float  # beats
    pitches: list[int]  # MIDI numbers


def snap(beats: float) -> float:
    return max(GRID, round(beats / GRID) * GRID)


def default_rhythm(why: str = "") -> Rhythm:
    return Rhythm(list(DEFAULT_RHYTHM), DEFAULT_TEMPO, "default distribution" + (f" ({why})" if why else ""))


def score_rhythm(score, source: str = "") -> Rhythm:
    """(IOI, duration) pairs of consecutive notes/chords of the part the tokenizer reads, and the tempo."""
    from music21 import tempo

    from lstm.data.tokens import read_part

    els = list(read_part(score).flatten().notes)
    pairs = []
    for a, b in zip(els, els[1:]):
        ioi = float(b.offset) - float(a.offset)
        if ioi > 0:  # simultaneous notes that music21 did not join into a chord: one event
            pairs.append((snap(ioi), snap(float(a.quarterLength))))
    bpm = None
    for mark in score.flatten().getElementsByClass(tempo.MetronomeMark):
        bpm = mark.getQuarterBPM()
        if bpm:
            break
    if not pairs:
        return default_rhythm(f"{source} has fewer than two onsets")
    return Rhythm(pairs, float(bpm) if bpm else DEFAULT_TEMPO, source)


RHYTHM_CACHE_VERSION = 1  # bump when score_rhythm changes what it reads


@functools.lru_cache(maxsize=16)
def _midi_rhythm(path: str, mtime: float) -> Rhythm:
    """Kept beside the token cache under the file's token cache key (its content, music21's version, the
    part read): a trial reads its prompt's rhythm every time, and music21 parses a long performance for
    seconds."""
    from lstm.data.corpus import default_cache_dir
    from lstm.data.prepare import file_key, write_entry

    cached = default_cache_dir() / "rhythms" / f"{file_key(Path(path))}-r{RHYTHM_CACHE_VERSION}.json"
    if cached.is_file():
        kept = json.loads(cached.read_text())
        return Rhythm([tuple(p) for p in kept["pairs"]], kept["tempo"], path)
    from music21 import converter

    rhythm = score_rhythm(converter.parse(path, format="midi", forceSource=True), path)
    if rhythm.source == path:  # not the default distribution (that one says why, for this file)
        cached.parent.mkdir(parents=True, exist_ok=True)
        write_entry(cached, {"pairs": rhythm.pairs, "tempo": rhythm.tempo})
    return rhythm


def midi_rhythm(path: str | Path) -> Rhythm:
    """The rhythm of a MIDI file; the default distribution, saying why, when it cannot be read."""
    path = Path(path)
    if not path.is_file():
        return default_rhythm(f"{path} not found")
    try:
        return _midi_rhythm(str(path), path.stat().st_mtime)
    except Exception as exc:  # music21 raises many types for damaged files
        return default_rhythm(f"{path}: {type(exc).__name__}")


def note_number(name: str) -> int:
    """The MIDI number of a note token, music21's pitch name with its octave (`E-4`, `C#2`, `B--3`)."""
    found = NOTE_NAME.fullmatch(name)
    if found is None:  # a spelling beyond letters, sharps and flats (music21 also writes microtones)
        from music21 import pitch

        return int(pitch.Pitch(name).midi)
    step, accidentals, octave = found.groups()
    return 12 * (int(octave) + 1) + STEPS[step] + accidentals.count("#") - accidentals.count("-")


@functools.lru_cache(maxsize=4096)
def token_pitches(token: str) -> tuple[int, ...]:
    """MIDI pitches of a token: a note as written, a chord voiced upwards from octave 4."""
    if token == UNKNOWN:
        raise ValueError("the unknown token has no pitch")
    if not is_chord(token):
        return (note_number(token),)
    pcs = chord_pitch_classes(token)
    voiced = [CHORD_BASE + pcs[0]]
    for pc in pcs[1:]:
        voiced.append(voiced[-1] + ((pc - voiced[-1]) % 12 or 12))
    if len(voiced) == 1:  # one pitch class: an octave
        voiced.append(voiced[0] + 12)
    return tuple(voiced)


def build_events(tokens: list[str], rhythm: Rhythm, generator: torch.Generator | None = None) -> list[Event]:
    """Place tokens in time with (IOI, duration) pairs drawn uniformly from the rhythm."""
    draws = torch.randint(len(rhythm.pairs), (len(tokens),), generator=generator).tolist()
    events, t = [], 0.0
    sounding: dict[int, Event] = {}  # pitch → the last event that struck it
    for token, k in zip(tokens, draws):
        ioi, dur = rhythm.pairs[k]
        bar_end = (math.floor(t / BAR) + 1) * BAR
        ev = Event(token, t, min(dur, bar_end - t), list(token_pitches(token)))
        for p in ev.pitches:
            prev = sounding.get(p)
            if prev is not None and prev.offset + prev.duration > t:
                prev.duration = t - prev.offset  # >= GRID: onsets are at least GRID apart
            sounding[p] = ev
        events.append(ev)
        t += ioi
    return events


# The MIDI file: written through mido, not music21 (a trial spent 0.3 s building and writing a music21
# score, and 0.4 s importing music21). Format 1, as music21 writes it: a tempo track, then one piano track.
TICKS = 480  # per quarter note: every offset and duration build_events makes is a whole number of them
VELOCITY = 90  # music21's default


def write_midi(events: list[Event], path: str | Path, bpm: float = DEFAULT_TEMPO) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(midi_bytes(events, bpm))
    return path


def midi_bytes(events: list[Event], bpm: float = DEFAULT_TEMPO) -> bytes:
    """The standard MIDI file of the events."""
    conductor = [(0, MetaMessage("set_tempo", tempo=round(60_000_000 / bpm))),  # microseconds a quarter note
                 (0, MetaMessage("time_signature", numerator=4, denominator=4))]
    notes = []  # (tick, 0 for off / 1 for on, pitch): at one tick, a note ends before the next strikes
    for ev in events:
        on, off = round(ev.offset * TICKS), round((ev.offset + ev.duration) * TICKS)
        notes += [(t, kind, p) for p in ev.pitches for t, kind in ((on, 1), (off, 0))]
    # program 0: acoustic grand piano
    piano = [(0, MetaMessage("track_name", name="Piano")), (0, Message("program_change", program=0))]
    piano += [(t, Message("note_on", note=p, velocity=VELOCITY) if kind else Message("note_off", note=p, velocity=0))
              for t, kind, p in sorted(notes)]
    return midi_file.encode([conductor, piano], TICKS)


def roll_notes(events: list[Event]) -> list[tuple[float, float, int]]:
    return [(ev.offset, ev.duration, p) for ev in events for p in ev.pitches]
