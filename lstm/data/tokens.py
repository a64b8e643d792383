"""MIDI file → seed tokens, exactly as the seed's code made them.

A note is `str(pitch)` (`E-4`: octave kept); a chord is its normal order joined by dots (`0.4.7`:
octave and voicing lost). Only the first instrument part is read, as the seed did; MAESTRO files
hold one piano track. The tokens are music21's; lstm/data/fast_midi.py computes the same ones 30-80×
faster and hands whatever it does not model back to music21.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .fast_midi import Unsupported, fast_tokens
from .vocab import chord_token, note_token

# Bump when the token stream a file gives could change: it keys the per-file cache.
TOKENIZER_VERSION = "seed-2"  # seed-2: truncated files are skipped, not cut short


class TokenizeError(Exception):
    """A file that cannot be tokenized; the message is the one-line reason."""


def read_part(score):
    """The part of a parsed score the seed read: the first instrument's (the score if it has none)."""
    from music21 import instrument

    parts = instrument.partitionByInstrument(score)
    return parts.parts[0] if parts and len(parts.parts) else score


def stream_tokens(score) -> list[str]:
    """Tokens of a parsed music21 score: its notes and chords in time order."""
    from music21 import chord, note

    tokens = []
    for el in read_part(score).flatten().notes:
        if isinstance(el, note.Note):
            tokens.append(note_token(el.pitch))
        elif isinstance(el, chord.Chord):
            tokens.append(chord_token(el.normalOrder))
    return tokens


READERS = ("auto", "music21")


@dataclass
class Read:
    tokens: list[str]
    reader: str  # "fast" or "music21"
    declined: str | None = None  # why the fast reader handed the file to music21


def midi_tokens(path: str | Path, reader: str = "auto") -> list[str]:
    """Tokens of one MIDI file, or TokenizeError with a one-line reason."""
    return read_midi(path, reader).tokens


def read_midi(path: str | Path, reader: str = "auto") -> Read:
    """`auto`: the fast reader (lstm/data/fast_midi.py), which gives music21's tokens exactly, and music21
    itself for the files it declines; `music21`: music21 only, the seed's way."""
    if reader not in READERS:
        raise ValueError(f"unknown reader {reader!r}: choose one of {', '.join(READERS)}")
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
    return Read(_music21_tokens(path), "music21", declined)


def _music21_tokens(path: Path) -> list[str]:
    from music21 import converter

    try:
        score = converter.parse(path, format="midi", forceSource=True)  # no pickle cache: ours is per file
    except Exception as exc:  # music21 raises many types for damaged files
        raise TokenizeError(f"unreadable MIDI: {type(exc).__name__}: {_one_line(exc)}") from None
    tokens = stream_tokens(score)
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
