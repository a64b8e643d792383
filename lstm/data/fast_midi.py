"""A fast MIDI → seed-token reader that gives music21's tokens exactly, or declines.

music21 turns a MIDI track into a score before the seed reads its notes back out: it pairs note-ons
with note-offs, groups near-simultaneous notes into chords, quantizes offsets and durations to 16ths
or triplet 8ths, cuts the track into measures, splits overlapping notes into voices, ties notes over
barlines (a tied continuation is one more token) and finally flattens everything back into time
order. Each of those steps is redone here on plain integers, in music21's own order and with its own
tie-breaks, 30-80× faster in one process. Where a file uses something this reader does not model
(several note tracks, drums, a time-signature change, zero-length notes, ...) it raises
`Unsupported` and the caller parses the file with music21 instead; `lstm bench` and the tests
measure the agreement.

The bytes are read here by hand, not by a MIDI library (mido writes this project's files): the point
is to redo music21's own arithmetic exactly (how it decodes a track, pairs note-ons with note-offs,
quantizes and measures durations), so that the tokens equal music21's; a library parser decodes and
times notes by its own rules, and its numbers would differ.
"""

from __future__ import annotations

from collections import namedtuple
from functools import cache
from importlib.metadata import version

from .vocab import chord_token, note_token

DIVISORS = (4, 3)  # music21's default quantization grid: 16ths and triplet 8ths
UNIT = 12  # quantized times are exact multiples of 1/12 quarter: held as ints
# The music21 release whose MIDI import this module reproduces, step by step; pyproject.toml pins it and
# tests/test_fast_midi.py compares the two readers on it. Another release may quantize or voice differently.
MUSIC21_VERSION = "10.5.1"


@cache
def installed_music21() -> str:
    """The installed music21 release, from its metadata (no import of music21 needed)."""
    return version("music21")


class Unsupported(Exception):
    """The file needs something only music21 models; the message says what."""


Note = namedtuple("Note", "on off pitch")  # ticks; one music21 TimedNoteEvent


def fast_tokens(data: bytes) -> list[str]:
    if installed_music21() != MUSIC21_VERSION:  # its tokens might differ from ours: let music21 itself read
        raise Unsupported(f"music21 {installed_music21()} is installed; the fast reader reproduces {MUSIC21_VERSION}")
    tpq, note_track, time_signature = _read(data)
    elements, voices_required = _chords(note_track, tpq)
    if not elements:
        raise Unsupported("no note-on with a matching note-off")
    placed = _quantize(elements, tpq)
    bar = _bar_length(time_signature)
    measures = _measures(placed, bar)
    if voices_required:
        for measure in measures:
            _make_voices(measure)
    _make_ties(measures, bar)
    for measure in measures:
        _flatten_unnecessary_voices(measure)
    return [token for _, _, token in sorted(_flatten(measures, bar))]


# --- bytes → one note track ---------------------------------------------------------------------

def _read(data: bytes):
    if data[:4] != b"MThd" or len(data) < 14:
        raise Unsupported("no MIDI header")
    tracks = int.from_bytes(data[10:12], "big")
    tpq = int.from_bytes(data[12:14], "big")
    if tpq & 0x8000 or tpq == 0:
        raise Unsupported("SMPTE time division")
    pos = 8 + int.from_bytes(data[4:8], "big")
    note_tracks, signatures = [], set()
    for _ in range(tracks):
        if data[pos:pos + 4] != b"MTrk":
            raise Unsupported("chunk other than MTrk")
        end = pos + 8 + int.from_bytes(data[pos + 4:pos + 8], "big")
        notes, metas = _track(data, pos + 8, end)
        if any(velocity for _, kind, _, _, velocity in notes if kind == 0x90):
            note_tracks.append((notes, metas))
        elif not note_tracks:  # a conductor track read before the notes: its time signatures count
            signatures |= {(tick, value) for tick, kind, value in metas if kind == 0x58}
        pos = end
    if len(note_tracks) != 1:
        raise Unsupported(f"{len(note_tracks)} tracks with notes")
    notes, metas = note_tracks[0]
    if any(tick > 0 for tick, _, _ in metas):
        raise Unsupported("tempo, key, time signature or instrument change inside the note track")
    if len({value for _, kind, value in metas if kind == 0xC0}) > 1:  # a part each in music21; the first may be empty
        raise Unsupported("several instruments (program changes) in the note track")
    signatures |= {(tick, value) for tick, kind, value in metas if kind == 0x58}
    if len({value for _, value in signatures}) > 1 or any(tick > 0 for tick, _ in signatures):
        raise Unsupported("time signature changes")
    time_signature = next(iter(signatures))[1] if signatures else (4, 2)
    return tpq, notes, time_signature


# The meta events music21 turns into score elements; the rest (text, end of track) leave no trace.
_ELEMENT_METAS = {0x03, 0x04, 0x51, 0x58, 0x59}


def _varlen(data: bytes, pos: int) -> tuple[int, int]:
    """A MIDI variable-length number at pos, and the position after it."""
    value = 0
    while True:
        byte = data[pos]
        pos += 1
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, pos


def _track(data: bytes, pos: int, end: int):
    """(tick, kind, channel, pitch, velocity) note events and (tick, kind, value) metas."""
    notes, metas = [], []
    tick, status = 0, 0
    while pos < end:
        delta, pos = _varlen(data, pos)
        tick += delta
        byte = data[pos]
        if byte == 0xFF or byte in (0xF0, 0xF7):
            kind = data[pos + 1] if byte == 0xFF else byte
            length, pos = _varlen(data, pos + (2 if byte == 0xFF else 1))
            if byte == 0xFF and kind in _ELEMENT_METAS:
                value = (data[pos], data[pos + 1]) if kind == 0x58 else None
                metas.append((tick, kind, value))
            elif byte != 0xFF:
                status = 0  # music21 would take the sysex byte as the running status
            pos += length
            continue
        if byte >= 0xF0:
            raise Unsupported(f"system message {byte:#x} inside a track")
        if byte & 0x80:
            status = byte
            pos += 1
        elif not status:
            raise Unsupported("running status without a status byte")
        kind, channel = status & 0xF0, status & 0x0F
        if kind in (0xC0, 0xD0):
            if kind == 0xC0:
                metas.append((tick, 0xC0, data[pos]))  # program change: an Instrument element
            pos += 1
            continue
        if kind in (0x80, 0x90):
            if channel == 9:
                raise Unsupported("drum channel")
            if (data[pos] | data[pos + 1]) & 0x80:
                raise Unsupported("note data byte above 127")
            notes.append((tick, kind, channel, data[pos], data[pos + 1]))
        pos += 2
    if pos != end:
        raise Unsupported("track events run past the chunk's end")
    return notes, metas


# --- notes → chords (music21.midi.translate.midiTrackToStream) -------------------------------------

def _pair(events) -> list[Note]:
    """music21's getNotesFromEvents: each note-on takes the next note-off of its pitch and channel."""
    waiting, notes = {}, []
    for tick, kind, channel, pitch, velocity in reversed(events):
        if kind == 0x80 or velocity == 0:
            waiting[pitch, channel] = tick
        elif (pitch, channel) in waiting:
            notes.append(Note(tick, waiting[pitch, channel], pitch))
    notes.reverse()
    return notes


def _chords(events, tpq: int):
    """Notes starting less than a 16th after a first note and ending within a 16th of it join its chord;
    one that starts with it but ends elsewhere makes music21 split the whole track into voices."""
    notes = _pair(events)
    tolerance = tpq / max(DIVISORS)
    gathered = [False] * len(notes)
    elements, voices_required = [], False
    for i, first in enumerate(notes):
        if gathered[i]:
            continue
        group = [first]
        for j in range(i + 1, len(notes)):
            other = notes[j]
            if abs(other.on - first.on) >= tolerance:
                break
            if abs(other.off - first.off) > tolerance:
                voices_required = True
                continue
            group.append(other)
            gathered[j] = True
        last = group[-1]  # music21 times a chord by its last note
        if last.off == last.on:
            raise Unsupported("zero-length note (a grace note in music21)")
        token = _note_token(first.pitch) if len(group) == 1 else _chord_token(n.pitch for n in group)
        elements.append((first.on, last.off - last.on, token))
    return elements, voices_required


_NOTE_NAMES: list[str] = []
_CHORD_NAMES: dict[tuple[int, ...], str] = {}


def _note_token(midi: int) -> str:
    if not _NOTE_NAMES:
        from music21 import pitch

        for number in range(128):
            p = pitch.Pitch()
            p.midi = number
            _NOTE_NAMES.append(note_token(p))
    return _NOTE_NAMES[midi]


def _chord_token(midis) -> str:
    classes = tuple(sorted({m % 12 for m in midis}))
    if classes not in _CHORD_NAMES:  # normal order depends on the pitch classes alone
        from music21 import chord, pitch

        pitches = []
        for pc in classes:
            pitches.append(pitch.Pitch())
            pitches[-1].midi = 60 + pc  # built from MIDI numbers, as music21's reader does: 40× faster
        _CHORD_NAMES[classes] = chord_token(chord.Chord(pitches).normalOrder)
    return _CHORD_NAMES[classes]


# --- quantization (music21.stream.Stream.quantize, offsets and durations together) ---------------

def _best_match(target: float, zero_allowed=True, gap_to_fill=0.0):
    from music21.common.numberTools import nearestMultiple

    found = []
    for divisor in DIVISORS:
        tick = 1 / divisor
        match, error, signed = nearestMultiple(target, tick)
        if not zero_allowed and match == 0.0:
            match = tick
            signed = round(target - match, 7)
            error = abs(signed)
        remaining = 0.0 if gap_to_fill % tick == 0 else max(gap_to_fill - match, 0.0)
        found.append((remaining, error, tick, match))
    return min(found)[3]


def _quantize(elements, tpq: int):
    """[(offset, duration, insertion order, token)] in 1/12 quarters, sorted as music21 sorts them.

    A duration is snapped with a look at the next later onset, so that a note ending a triplet
    before the next one does not leave a gap (music21 ≥ 7); floats and fractions exactly as there.
    music21 is imported here, when a file is read, not with this module: a trial needs only the token
    cache's keys (for its prompt's cached rhythm), and importing music21 costs it 0.4 s."""
    from music21.common.numberTools import opFrac

    offsets = [_best_match(float(opFrac(on / tpq))) for on, _, _ in elements]
    placed = []
    for i, (_, ticks, token) in enumerate(elements):
        offset = offsets[i]
        gap = 0.0
        j = i + 1
        while j < len(offsets) and not offsets[j] > offset:
            j += 1
        if j < len(offsets):
            gap = opFrac(offsets[j] - opFrac(offset))
        duration = _best_match(float(opFrac(ticks / tpq)), zero_allowed=False, gap_to_fill=gap)
        placed.append((_units(offset), _units(duration), i, token))
    placed.sort(key=lambda p: (p[0], p[2]))
    return placed


def _units(value) -> int:
    units = round(float(value) * UNIT)
    if abs(units - float(value) * UNIT) > 1e-6:
        raise Unsupported(f"time {value} is off the 1/{UNIT} grid")
    return units


# --- measures, voices, ties (music21.stream.makeNotation) ---------------------------------------
# A measure is {"notes": [...], "voices": [[...], ...]}; an entry is [offset, duration, order,
# token] with order the global insertion count that breaks music21's ties between equal offsets.
# Voices are only ever appended, so their list order is their insertion order.

_order = iter(range(1 << 62))  # like music21's global counter: only the relative order matters


def _in_order(notes):
    """Notes as music21 iterates a measure or voice: by offset, then by insertion."""
    return sorted(notes, key=lambda n: (n[0], n[2]))


def _reinserted(n):
    """The note moved into another measure or voice: a new insertion."""
    return [n[0], n[1], next(_order), n[3]]


def _bar_length(time_signature) -> int:
    numerator, power = time_signature
    units = 4 * UNIT * numerator
    if power > 4 or units % (1 << power):
        raise Unsupported(f"time signature {numerator}/{1 << power}")
    return units >> power


def _measures(placed, bar: int):
    end = max(offset + duration for offset, duration, _, _ in placed)
    measures = [{"notes": [], "voices": []} for _ in range(max(1, -(-end // bar)))]
    for offset, duration, _, token in placed:
        measures[offset // bar]["notes"].append([offset % bar, duration, next(_order), token])
    return measures


def _overlap_groups(notes) -> int:
    """The size of music21's largest overlap group (Stream.getOverlaps, quirks included)."""
    spans = [(n[0], n[0] + n[1]) for n in notes]
    overlaps = [[] for _ in spans]
    for i, (start, stop) in enumerate(spans):
        for j in range(i + 1, len(spans)):
            a, b = sorted([(start, stop), spans[j]])
            if b[0] < a[1]:
                overlaps[i].append(j)
                overlaps[j].append(i)
            else:
                break
    groups: dict[int, list[int]] = {}
    for src, indices in enumerate(overlaps):
        if not indices:
            continue
        dst = None
        for j in sorted(indices):
            store = True
            for key, members in groups.items():
                if j in members:
                    store, dst = False, key
                    break
            if dst is None:
                dst = spans[src][0]
            if store:
                groups.setdefault(dst, []).append(j)
        if not any(src in members for members in groups.values()):
            if dst is None:
                dst = spans[src][0]
            groups.setdefault(dst, []).append(src)
    return max([len(members) for members in groups.values()] + [1])


def _make_voices(measure) -> None:
    notes = _in_order(measure["notes"])
    count = _overlap_groups(notes)
    if count == 1:
        return
    voices = [[] for _ in range(count)]
    ends = [0] * count
    for n in notes:
        for v in range(count):
            if ends[v] <= n[0]:
                voices[v].append(_reinserted(n))
                ends[v] = max(ends[v], n[0] + n[1])
                break
        # a note that fits no voice is dropped, as music21 drops it
    measure["notes"] = []
    measure["voices"] = [v for v in voices if v]


def _make_ties(measures, bar: int) -> None:
    for index, measure in enumerate(measures):
        if index + 1 == len(measures):
            break  # makeMeasures already made room for the last note's end
        following = measures[index + 1]
        following_had_voices = bool(following["voices"])
        bundle = measure["voices"] or [measure["notes"]]
        voiced = bool(measure["voices"])
        for notes in bundle:
            for n in _in_order(notes):
                overshoot = n[0] + n[1] - bar
                if overshoot <= 0 or n[0] >= bar:
                    continue
                n[1] = bar - n[0]
                if following_had_voices:
                    # music21 looks the voice up by an id that never matches in the next measure
                    dst = following["notes"] if voiced else following["voices"][0]
                elif voiced:
                    _move_notes_to_voice(following)
                    dst = following["voices"][0]
                else:
                    dst = following["notes"]
                dst.append([0, overshoot, next(_order), n[3]])


def _move_notes_to_voice(measure) -> None:
    measure["voices"].append([_reinserted(n) for n in _in_order(measure["notes"])])
    measure["notes"] = []


def _flatten_unnecessary_voices(measure) -> None:
    """Empty voices go; a lone voice left gives its notes back to the measure."""
    voices = [v for v in measure["voices"] if v]
    if len(voices) == 1:
        measure["notes"] += [_reinserted(n) for n in _in_order(voices[0])]
        voices = []
    measure["voices"] = voices


def _flatten(measures, bar: int):
    """(absolute offset, recursion order, token): voices first (they sit at offset 0 and sort
    before notes), each in time order, then the measure's own notes."""
    rank = 0
    for index, measure in enumerate(measures):
        for notes in measure["voices"] + [measure["notes"]]:
            for n in _in_order(notes):
                rank += 1
                yield index * bar + n[0], rank, n[3]
