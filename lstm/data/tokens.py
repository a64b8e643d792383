"""MIDI file → seed tokens, exactly as the seed's code made them.

A note is `str(pitch)` (`E-4`: octave kept); a chord is its normal order joined by dots (`0.4.7`:
octave and voicing lost). Only the first instrument part is read, as the seed did; MAESTRO files
hold one piano track. Files from elsewhere often put an empty part first (POP909: a part without
notes before the piano): such a file is skipped as "first part empty; N notes in other parts", or
read with `part="first-with-notes"`, the first part that has notes. The tokens are music21's;
lstm/data/fast_midi.py computes the same ones 30-80×
faster and hands whatever it does not model back to music21.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .fast_midi import Unsupported, fast_tokens
from .vocab import chord_token, note_token

# Bump when the token stream a file gives could change: it keys the per-file cache.
# seed-2: truncated files are skipped, not cut short. seed-3: the fast reader declines a note track with
# several program changes (music21 makes a part of each, the first may be empty): its tokens were wrong.
TOKENIZER_VERSION = "seed-3"
PARTS = ("first", "first-with-notes")


class TokenizeError(Exception):
    """A file that cannot be tokenized; the message is the one-line reason."""


def instrument_parts(score) -> list:
    """The parts of a parsed score, one per instrument (the score itself if it has none)."""
    from music21 import instrument

    parts = instrument.partitionByInstrument(score)
    return list(parts.parts) if parts and len(parts.parts) else [score]


def part_tokens(part) -> list[str]:
    """Tokens of a part (or a score): its notes and chords in time order."""
    from music21 import chord, note

    tokens = []
    for el in part.flatten().notes:
        if isinstance(el, note.Note):
            tokens.append(note_token(el.pitch))
        elif isinstance(el, chord.Chord):
            tokens.append(chord_token(el.normalOrder))
    return tokens


def read_part(score, part: str = "first"):
    """The part of a parsed score that is read: `first`, the first instrument's, as the seed did;
    `first-with-notes`, the first that has notes (the first part when none has)."""
    parts = instrument_parts(score)
    if part == "first-with-notes":
        return next((p for p in parts if part_tokens(p)), parts[0])
    return parts[0]


def stream_tokens(score, part: str = "first") -> list[str]:
    """Tokens of a parsed music21 score: those of its part `part` (see read_part)."""
    return part_tokens(read_part(score, part))


READERS = ("auto", "music21")


@dataclass
class Read:
    tokens: list[str]
    reader: str  # "fast" or "music21"
    declined: str | None = None  # why the fast reader handed the file to music21


def midi_tokens(path: str | Path, reader: str = "auto", part: str = "first", fallback: bool = True) -> list[str]:
    """Tokens of one MIDI file, or TokenizeError with a one-line reason."""
    return read_midi(path, reader, part, fallback).tokens


def read_midi(path: str | Path, reader: str = "auto", part: str = "first", fallback: bool = True) -> Read:
    """`auto`: the fast reader (lstm/data/fast_midi.py), which gives music21's tokens exactly, and music21
    itself for the files it declines (fallback=False: TokenizeError saying why, for a caller without
    music21); `music21`: music21 only, the seed's way. `part`: see read_part (the fast reader reads files
    with one note track and one instrument, where both choices agree)."""
    if reader not in READERS:
        raise ValueError(f"unknown reader {reader!r}: choose one of {', '.join(READERS)}")
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}: choose one of {', '.join(PARTS)}")
    path = Path(path)
    data = path.read_bytes()
    if not data:
        raise TokenizeError("empty file (0 bytes)")
    if not data.startswith(b"MThd"):
        raise TokenizeError("not a MIDI file (no MThd header)")
    _check_chunks(data)
    declined = None
    if reader == "auto":
        try:
            tokens = fast_tokens(data)
        except Unsupported as exc:
            declined = str(exc)
        except (IndexError, ValueError) as exc:  # damaged bytes: music21 gives the one-line reason
            declined = f"damaged data ({type(exc).__name__})"
        else:
            if tokens:
                return Read(tokens, "fast")
            declined = "no notes"
        if not fallback:
            raise TokenizeError("no notes or chords" if declined == "no notes" else
                                f"needs music21 to be read ({declined}): pip install music21")
    return Read(_music21_tokens(path, part), "music21", declined)


def _music21_tokens(path: Path, part: str) -> list[str]:
    from music21 import converter

    try:
        score = converter.parse(path, format="midi", forceSource=True)  # no pickle cache: ours is per file
    except Exception as exc:  # music21 raises many types for damaged files
        raise TokenizeError(f"unreadable MIDI: {type(exc).__name__}: {_one_line(exc)}") from None
    per_part = [part_tokens(p) for p in instrument_parts(score)]
    tokens = per_part[0]
    if part == "first-with-notes":
        tokens = next((t for t in per_part if t), [])
    elif not tokens and (others := sum(map(len, per_part[1:]))):
        # common outside MAESTRO: say so, rather than "no notes", since the file has music
        raise TokenizeError(f"first part empty; {others:,} notes in other parts")
    if not tokens:
        raise TokenizeError("no notes or chords")
    return tokens


def _check_chunks(data: bytes) -> None:
    """A file cut short (an interrupted copy) still parses in music21, to fewer notes: refuse it.

    Each of the header's tracks must be a chunk whose declared length fits in the file; bytes after
    the last track are ignored, as MIDI readers do."""
    if len(data) < 14:
        raise TokenizeError(f"truncated MIDI: {len(data)} bytes, shorter than a MIDI header")
    pos = 8 + int.from_bytes(data[4:8], "big")
    tracks = int.from_bytes(data[10:12], "big")
    for track in range(tracks):
        if pos + 8 > len(data):
            raise TokenizeError(f"truncated MIDI: {track} of {tracks} tracks present")
        end = pos + 8 + int.from_bytes(data[pos + 4:pos + 8], "big")
        if end > len(data):
            raise TokenizeError(f"truncated MIDI: track {track + 1} of {tracks} needs {end - pos - 8} bytes, "
                                f"{len(data) - pos - 8} present")
        pos = end


def _one_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else "no message"
