"""Standard MIDI files written through mido, from messages placed at absolute ticks.

The writers (a sample, the MAESTRO stand-in, the tests' random files) think in absolute ticks; mido's
tracks count in deltas, so the one conversion lives here. mido writes running status (a repeated
status byte is left out), cancels it at every meta event and closes each track with end-of-track.
"""

from __future__ import annotations

import io
from collections.abc import Iterable

import mido

Timed = tuple[int, mido.Message | mido.MetaMessage]  # (absolute tick, message)


def encode(tracks: Iterable[Iterable[Timed]], ticks_per_beat: int, format: int = 1) -> bytes:
    """The file of these tracks; each track's messages in the order given (ticks never decreasing)."""
    midi = mido.MidiFile(type=format, ticks_per_beat=ticks_per_beat)
    for timed in tracks:
        track, last = mido.MidiTrack(), 0
        for tick, message in timed:
            track.append(message.copy(time=tick - last))
            last = tick
        midi.tracks.append(track)
    out = io.BytesIO()
    midi.save(file=out)
    return out.getvalue()
