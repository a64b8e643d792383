"""Random performance-like MIDI files, written byte by byte, to hold the fast reader to music21's tokens.

Off-grid onsets and durations at several resolutions, chords whose notes start and end a little
apart, notes held over barlines, repeated pitches that overlap, sustain pedal, running status,
format 0 and 1, several time signatures: everything music21's quantization, chords, voices and ties
have to decide on. The "rough" style adds what real files carry: notes held for many bars, notes on
several channels, note-ons that never end, stray note-offs, pitch bends and aftertouch. `variant`
adds one thing the fast reader declines.
"""

from __future__ import annotations

import random

from lstm.bench.performed import varlen


def _track(events: list[tuple[int, bytes]], running: bool = False) -> bytes:
    body, last, status = b"", 0, None
    for tick, data in sorted(events, key=lambda e: e[0]):
        if running and data[0] < 0xF0 and data[0] == status:
            data = data[1:]
        elif data[0] < 0xF0:
            status = data[0]
        body += varlen(tick - last) + data
        last = tick
    body += varlen(0) + b"\xff\x2f\x00"
    return b"MTrk" + len(body).to_bytes(4, "big") + body


def _header(fmt: int, tracks: int, tpq: int) -> bytes:
    return b"MThd" + (6).to_bytes(4, "big") + fmt.to_bytes(2, "big") + tracks.to_bytes(2, "big") + tpq.to_bytes(2, "big")


def performance(seed: int, variant: str | None = None, onsets: int | None = None) -> bytes:
    """`onsets`: that many onsets instead of 20-200 (a MAESTRO piece has a few thousand)."""
    r = random.Random(seed)
    tpq = r.choice([384, 480, 96, 1000, 10080, 220])
    numerator, power = r.choice([(4, 2), (3, 2), (6, 3), (2, 2), (5, 2), (7, 3)])
    style = r.choice(["performance", "grid", "dense", "rough"])
    notes, t = [], 0
    n = r.randint(20, 200)  # drawn even when `onsets` is given: the same seed gives the same file otherwise
    for _ in range(onsets or n):
        if style == "grid":
            t += r.choice([0, tpq // 2, tpq, tpq // 4, tpq // 3])
        elif style == "dense":
            t += r.randint(0, tpq // 3)
        else:
            t += r.choice([r.randint(0, tpq // 8), r.randint(tpq // 8, 2 * tpq), r.randint(0, tpq)])
        length = r.choice([r.randint(1, tpq // 2), r.randint(tpq // 4, 3 * tpq), r.randint(tpq, 12 * tpq), tpq])
        if style == "rough":
            length = r.choice([length, r.randint(tpq, 30 * tpq)])
        base = r.randint(30, 90)
        for pitch in r.sample(range(base - 12, base + 12), r.choice([1, 1, 1, 2, 3, 4])):
            on = t + r.choice([0, 0, 0, r.randint(0, tpq // 10)])
            off = on + max(1, length + r.choice([0, 0, r.randint(-tpq // 6, tpq // 6)]))
            notes += [(on, 1, pitch, r.randint(20, 110)), (off, 0, pitch, 0)]
    notes.sort(key=lambda e: (e[0], e[1]))
    off_as_note_off = r.random() < 0.5
    channel = 9 if variant == "drums" else r.choice([0, 0, 1])
    piano = [(0, bytes([0xC0 | channel, 0]))]
    for tick, on, pitch, velocity in notes:
        if on:
            piano.append((tick, bytes([0x90 | channel, pitch, velocity])))
        elif style != "rough" or r.random() > 0.03:  # rough: a few note-ons never end
            piano.append((tick, bytes([0x80 | channel, pitch, 64]) if off_as_note_off else bytes([0x90 | channel, pitch, 0])))
    if style == "rough":
        other = 2 if channel != 9 else 9
        piano += [(tick + 7, bytes([0x90 | other, pitch, 50])) for tick, on, pitch, _ in notes[::17] if on]
        piano += [(tick + 97, bytes([0x80 | other, pitch, 0])) for tick, on, pitch, _ in notes[::17] if on]
        piano += [(r.randint(0, t), bytes([0x80 | channel, r.randint(21, 108), 0])) for _ in range(3)]  # stray
        piano += [(r.randint(0, t), bytes([0xE0 | channel, r.randint(0, 127), 64])) for _ in range(10)]
        piano += [(r.randint(0, t), bytes([0xD0 | channel, 30])), (r.randint(0, t), bytes([0xA0 | channel, 60, 9]))]
    piano += [(r.randint(0, t), bytes([0xB0 | channel, 64, r.choice([0, 127])])) for _ in range(r.randint(0, 20))]
    conductor = [(0, b"\xff\x51\x03\x07\xa1\x20"), (0, bytes([0xFF, 0x58, 4, numerator, power, 24, 8]))]
    if variant == "meter change":
        conductor.append((4 * tpq, bytes([0xFF, 0x58, 4, 3, 2, 24, 8])))
    running = r.random() < 0.6
    if variant == "two pianos":
        return _header(1, 3, tpq) + _track(conductor) + _track(piano, running) + _track(piano, running)
    if r.random() < 0.2 and variant is None:  # format 0: one track holds everything
        return _header(0, 1, tpq) + _track(conductor + piano, running)
    return _header(1, 2, tpq) + _track(conductor) + _track(piano, running)
