"""Write the small MIDI files the tests read: `python tests/midi/make_midis.py [OUT_DIR]`.

Good files are written with music21 (one piano part, quarter notes, so each note or chord is one
token); the broken ones are raw bytes. Every file is deterministic, so re-running this script gives
the same token streams. `token_of` gives the token each item of GOOD must come back as (seed rules: a
note is `str(pitch)`, a chord its normal order joined by dots).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# C major melodies for the train split; chords are C-E-G (0.4.7) and G-B-D (7.11.2: normal order).
_A = ["C4", "D4", "E4", "F4", "G4", "A4", "B4", "C5"]
_B = ["G4", "E4", "C4", "E4", "G4", "C5", "B4", "A4", "G4", "F4", "E4", "D4"]
_C = ["E4", "F4", "G4", "A4", "G4", "F4", "E4", "D4", "C4"]
CEG, GBD = ("C4", "E4", "G4"), ("G3", "B3", "D4")

GOOD: dict[str, list] = {
    # The example: two notes, a chord, a note.
    "known.midi": ["C4", "E-4", CEG, "F#5"],
    # Train material: 40 to 50 tokens each, long enough for windows of 8 or 16.
    "train_a.midi": _A * 5 + [CEG],
    "train_b.midi": _B * 4 + [GBD, CEG],
    "train_c.midi": _C * 5 + [GBD],
    # Validation/test: train tokens plus tokens that no train file has (C#7, and A0 + chord 0.3.6).
    "rare_val.midi": _A * 4 + ["C#7"] * 4,
    "rare_test.midi": _B * 3 + ["A0", ("C4", "E-4", "G-4")],
    # Shorter than any window of 16 tokens.
    "short.midi": ["C4", "D4", "E4"],
}


def token_of(item) -> str:
    """The token music21 gives back for a note name or a tuple of chord notes."""
    from music21 import chord

    if isinstance(item, tuple):
        return ".".join(str(n) for n in chord.Chord(list(item)).normalOrder)
    return item


def write_good(path: Path, items: list) -> None:
    from music21 import chord, instrument, note, stream, tempo

    part = stream.Part()
    part.insert(0, instrument.Piano())
    part.insert(0, tempo.MetronomeMark(number=120))
    for item in items:
        part.append(chord.Chord(list(item)) if isinstance(item, tuple) else note.Note(item))
    stream.Score([part]).write("midi", fp=str(path))


def write_empty(path: Path) -> None:
    """A valid MIDI file (header, tempo and piano tracks) without a single note."""
    from music21 import instrument, stream

    stream.Score([stream.Part([instrument.Piano()])]).write("midi", fp=str(path))


def _track(events: list[tuple[int, bytes]]) -> bytes:
    """An MTrk chunk of (tick, event bytes), ticks absolute, closed by end-of-track."""
    body, last = b"", 0
    for tick, data in events:
        delta = tick - last  # a variable-length number: 7 bits a byte, high bit set on all but the last
        varlen = [delta & 0x7F]
        while delta > 0x7F:
            delta >>= 7
            varlen.insert(0, 0x80 | (delta & 0x7F))
        body += bytes(varlen) + data
        last = tick
    body += b"\x00\xff\x2f\x00"
    return b"MTrk" + len(body).to_bytes(4, "big") + body


def first_part_empty(drums: bool) -> bytes:
    """Files as they come outside MAESTRO (POP909 and the like): the first instrument part music21 makes has
    no notes, the music is in the next one. drums=False: one track announces a violin, then a piano, at tick
    0 (music21 makes an empty violin part first); drums=True: a drum track first (unpitched: no tokens)."""
    tpq, piano = 480, [(0, b"\xc0\x00")]
    for i, pitch in enumerate([60, 64, 67, 72] * 5):  # 20 quarter notes: C4 E4 G4 C5
        piano += [(i * tpq, bytes([0x90, pitch, 80])), ((i + 1) * tpq, bytes([0x80, pitch, 0]))]
    piano.sort(key=lambda e: e[0])
    tempo = _track([(0, b"\xff\x51\x03\x07\xa1\x20")])
    if drums:
        kit = [(0, b"\xc9\x00")] + [e for i in range(4) for e in ((i * tpq, b"\x99\x24\x64"), (i * tpq + 60, b"\x89\x24\x00"))]
        tracks = [tempo, _track(kit), _track(piano)]
    else:
        tracks = [tempo, _track([(0, b"\xc0\x28")] + piano)]  # program 40 (violin), then the piano's 0
    header = b"MThd" + (6).to_bytes(4, "big") + (1).to_bytes(2, "big") + len(tracks).to_bytes(2, "big")
    return header + tpq.to_bytes(2, "big") + b"".join(tracks)


def broken_files(out: Path) -> dict[str, bytes]:
    good = (out / "train_a.midi").read_bytes()
    header_end = 14  # MThd + length + format, ntracks, division
    # Keep the chunk structure (MThd, MTrk and their lengths) but overwrite the second track's
    # events with 0xFF bytes: a stream of meta events with bogus types and lengths.
    second = good.index(b"MTrk", good.index(b"MTrk") + 4)
    corrupted = good[: second + 8] + b"\xff" * (len(good) - second - 8)
    return {
        "zero_bytes.midi": b"",
        "text.midi": b"This is not a MIDI file, only text with a .midi name.\n",
        "corrupted.midi": corrupted,
        # An interrupted download: the second track stops half way through its notes.
        "truncated.midi": good[: second + (len(good) - second) // 2],
        "header_only.midi": good[:header_end],
        # Not broken, but skipped under the seed's rule (the first part): its first part is empty.
        "first_part_empty.midi": first_part_empty(drums=False),
        "drums_first.midi": first_part_empty(drums=True),
    }


def main(out: Path = HERE) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, items in GOOD.items():
        write_good(out / name, items)
    write_empty(out / "empty.midi")
    for name, data in broken_files(out).items():
        (out / name).write_bytes(data)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
