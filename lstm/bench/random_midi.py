"""Random performance-like MIDI files, written through mido, to hold the fast reader to music21's tokens.

Off-grid onsets and durations at several resolutions, chords whose notes start and end a little
apart, notes held over barlines, repeated pitches that overlap, sustain pedal, running status (mido
writes it), format 0 and 1, several time signatures: everything music21's quantization, chords,
voices and ties have to decide on. The "rough" style adds what real files carry: notes held for many
bars, notes on several channels, note-ons that never end, stray note-offs, pitch bends and
aftertouch. `variant` adds one thing the fast reader declines.
"""

from __future__ import annotations

import random

from mido import Message, MetaMessage

from lstm.music import midi_file


def _in_time(events: list[tuple[int, Message | MetaMessage]]) -> list[tuple[int, Message | MetaMessage]]:
    return sorted(events, key=lambda e: e[0])  # at one tick, in the order made


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
    piano = [(0, Message("program_change", channel=channel, program=0))]
    for tick, on, pitch, velocity in notes:
        if on:
            piano.append((tick, Message("note_on", channel=channel, note=pitch, velocity=velocity)))
        elif style != "rough" or r.random() > 0.03:  # rough: a few note-ons never end
            piano.append((tick, Message("note_off", channel=channel, note=pitch, velocity=64) if off_as_note_off
                          else Message("note_on", channel=channel, note=pitch, velocity=0)))
    if style == "rough":
        other = 2 if channel != 9 else 9
        piano += [(tick + 7, Message("note_on", channel=other, note=pitch, velocity=50))
                  for tick, on, pitch, _ in notes[::17] if on]
        piano += [(tick + 97, Message("note_off", channel=other, note=pitch, velocity=0))
                  for tick, on, pitch, _ in notes[::17] if on]
        piano += [(r.randint(0, t), Message("note_off", channel=channel, note=r.randint(21, 108), velocity=0))
                  for _ in range(3)]  # stray
        piano += [(r.randint(0, t), Message("pitchwheel", channel=channel, pitch=r.randint(0, 127))) for _ in range(10)]
        piano += [(r.randint(0, t), Message("aftertouch", channel=channel, value=30)),
                  (r.randint(0, t), Message("polytouch", channel=channel, note=60, value=9))]
    piano += [(r.randint(0, t), Message("control_change", channel=channel, control=64, value=r.choice([0, 127])))
              for _ in range(r.randint(0, 20))]
    conductor = [(0, MetaMessage("set_tempo", tempo=500_000)),
                 (0, MetaMessage("time_signature", numerator=numerator, denominator=2 ** power))]
    if variant == "meter change":
        conductor.append((4 * tpq, MetaMessage("time_signature", numerator=3, denominator=4)))
    r.random()  # once drew whether to write running status (mido always does): a seed still gives the same notes
    if variant == "two pianos":
        return midi_file.encode([_in_time(conductor), _in_time(piano), _in_time(piano)], tpq)
    if r.random() < 0.2 and variant is None:  # format 0: one track holds everything
        return midi_file.encode([_in_time(conductor + piano)], tpq, format=0)
    return midi_file.encode([_in_time(conductor), _in_time(piano)], tpq)
