"""A MAESTRO stand-in: real multi-voice scores from music21's corpus, played as piano performances.

No MAESTRO file can be fetched here, and the embedded chorales are short, sparse and on the grid. This
module writes a MAESTRO-layout directory whose files look like MAESTRO's to the tokenizer: one piano
track of real music (Beethoven, Mozart and Haydn quartets, Schumann, Chopin, Joplin, Corelli,
Monteverdi and Palestrina, ... with every part merged into the one track: many chords), timed like a
performance (a tempo that drifts phrase by phrase and slows at the ends, onsets jittered by ~15 ms,
chords rolled, legato and pedal-like overlaps, phrase dynamics) in seconds at MAESTRO's 120 qpm / 384
ticks a quarter, several pieces of one composer joined into files of thousands of notes. Deterministic
per seed: `python -m lstm.bench.performed --out DIR`, then `lstm prepare --data-dir DIR`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
from pathlib import Path

from mido import Message, MetaMessage

from lstm.data.maestro import Piece, write_csv
from lstm.data.parallel import map_unordered
from lstm.music import midi_file

# composer → keep every n-th of its corpus files (Palestrina's 1,318 masses would swamp the rest);
# Bach is left out: his chorales are the embedded data set.
SOURCES = {"beethoven": 1, "mozart": 1, "haydn": 1, "schumann_robert": 1, "chopin": 1, "joplin": 1,
           "corelli": 1, "cpebach": 1, "weber": 1, "handel": 1, "monteverdi": 4, "palestrina": 20}
# Left out to keep music21's parsing (~200 notes a CPU second on these scores) within minutes: the larger
# Beethoven quartet scores (only opus 18 no. 1, in four small files, stays) and the
# long scores of Clara Schumann, Schubert and Beach.
SKIP = ("opus18no3", "opus18no4", "opus18no5", "opus59", "opus74", "opus130", "opus132", "opus133")
PERFORMANCES = 3  # each file is played this many times (another tempo, transposition and touch), as MAESTRO
# holds several performances of one piece; they stay in one split
NOTES_PER_FILE = 3000  # pieces of one composer are joined until a file holds this many notes
TPQ, SECONDS_PER_TICK = 384, 0.5 / 384  # MAESTRO's resolution and tempo (500,000 µs a quarter)


def corpus_paths() -> dict[str, list[str]]:
    """composer → score paths; one format per piece (music21 ships some in both .krn and .mxl)."""
    from music21 import corpus

    out = {}
    for composer, every in SOURCES.items():
        paths, seen = [], set()
        for p in sorted(str(p) for p in corpus.getComposer(composer)):
            stem = p.rsplit(".", 1)[0]
            if stem not in seen and not any(k in p for k in SKIP):
                seen.add(stem)
                paths.append(p)
        out[composer] = paths[::every]
    return out


def score_notes(path: str) -> tuple[list[tuple[float, float, int]], float, float | None]:
    """(onset, duration, midi pitch) in quarters of every note of every part, the score's length, and its
    first metronome mark (None if it has none)."""
    from music21 import converter, tempo

    score = converter.parse(path).stripTies()
    notes = [(float(el.offset), float(el.quarterLength), p.midi)
             for el in score.flatten().notes for p in el.pitches if el.quarterLength > 0]
    marks = list(score.recurse().getElementsByClass(tempo.MetronomeMark))
    qpm = marks[0].getQuarterBPM() if marks and marks[0].number else None
    return notes, float(score.highestTime), qpm


def perform(notes: list[tuple[float, float, int]], length: float, qpm: float | None,
            rng: random.Random) -> list[tuple[float, float, int, int]]:
    """(on, off in seconds, pitch, velocity): the score played with rubato, jitter, legato and dynamics."""
    base = min(max(qpm or rng.uniform(60, 120), 50), 160) * rng.uniform(0.85, 1.15)
    quarters = int(math.ceil(length)) + 8
    log_tempo, starts, t = 0.0, [], 0.0
    for q in range(quarters):  # a tempo that drifts (AR(1) in log tempo) and slows over the last 6 beats
        log_tempo = 0.85 * log_tempo + rng.gauss(0, 0.04)
        slow = 1 + 0.08 * max(0, q - (length - 6))
        starts.append(t)
        t += 60 / (base * math.exp(log_tempo)) * slow

    def at(q: float) -> float:
        i = min(int(q), quarters - 2)
        return starts[i] + (q - i) * (starts[i + 1] - starts[i])

    phrase = rng.uniform(8, 16)
    by_onset: dict[float, list] = {}
    for n in notes:
        by_onset.setdefault(n[0], []).append(n)
    played = []
    for onset, group in by_onset.items():
        roll = rng.random() < 0.15  # a rolled chord: low to high, ~20 ms a note
        top = max(p for _, _, p in group)
        shared = rng.gauss(0, 0.012)  # the hands are never exactly on the beat
        loud = 64 + 18 * math.sin(2 * math.pi * onset / phrase) + rng.gauss(0, 4)
        for k, (_, dur, pitch) in enumerate(sorted(group, key=lambda n: n[2])):
            on = at(onset) + shared + rng.gauss(0, 0.008) + (0.02 * k if roll else 0)
            off = on + (at(onset + dur) - at(onset)) * rng.uniform(0.8, 1.1)
            if rng.random() < 0.3:  # held by the pedal to the next half-bar change
                off = max(off, at(2 * math.floor(onset / 2) + 2) + rng.uniform(0, 0.05))
            vel = loud + (10 if pitch == top else 0) + rng.gauss(0, 6)
            played.append((max(on, 0.0), max(off, on + 0.04), pitch, int(min(max(vel, 15), 120))))
    return played


def midi_bytes(played: list[tuple[float, float, int, int]]) -> bytes:
    """MAESTRO's layout: format 1, a tempo track, one piano track of note-ons/offs in seconds' ticks.
    One key sounds once at a time: two voices striking it within 40 ms are one note, and a key struck
    again while it sounds is released just before."""
    by_pitch: dict[int, list[list[int]]] = {}
    for on, off, pitch, vel in sorted(played):
        a, b = round(on / SECONDS_PER_TICK), round(off / SECONDS_PER_TICK)
        keys = by_pitch.setdefault(pitch, [])
        if keys and a - keys[-1][0] < 30:
            keys[-1][1] = max(keys[-1][1], b)
        else:
            keys.append([a, b, vel])
    events = []  # (tick, 0 for off / 1 for on, pitch, message): at one tick, keys are released first
    for pitch, keys in by_pitch.items():
        for i, (a, b, vel) in enumerate(keys):
            if i + 1 < len(keys):
                b = min(b, keys[i + 1][0] - 1)
            events += [(a, 1, pitch, Message("note_on", note=pitch, velocity=vel)),
                       (b, 0, pitch, Message("note_off", note=pitch, velocity=64))]
    tempo = [(0, MetaMessage("set_tempo", tempo=500_000)), (0, MetaMessage("time_signature", numerator=4, denominator=4))]
    piano = [(tick, message) for tick, _, _, message in sorted(events, key=lambda e: e[:3])]
    return midi_file.encode([tempo, piano], TPQ)


def _split(index: int) -> str:
    return {3: "validation", 7: "test"}.get(index % 10, "train")


def _parsed(job: tuple[str, Path]) -> tuple[str, tuple | None]:
    """A score's notes, kept as JSON under `cache` (parsing is the slow part: a re-run reads them)."""
    path, cache = job
    entry = cache / (hashlib.sha256(path.encode()).hexdigest()[:16] + ".json")
    if entry.is_file():
        return path, json.loads(entry.read_text())
    try:
        parsed = score_notes(path)
    except Exception:  # a corpus file music21 cannot parse: left out
        parsed = None
    entry.write_text(json.dumps(parsed))
    return path, parsed


def _write(index: int, group: int, composer: str, scores: list[tuple[str, tuple]], out: Path,
           rng: random.Random) -> Piece:
    played, t = [], 0.0
    shift = rng.choice([-3, -2, -1, 0, 0, 1, 2, 3])  # another performance, maybe in another key
    for _, (notes, length, qpm) in scores:
        notes = [(on, dur, min(max(p + shift, 21), 108)) for on, dur, p in notes]
        played += [(on + t, off + t, p, v) for on, off, p, v in perform(notes, length, qpm, rng)]
        t = max(off for _, off, _, _ in played) + rng.uniform(1.5, 3.0)
    rel = f"{2004 + index % 5}/{index:03d}-{composer}.midi"
    (out / rel).parent.mkdir(parents=True, exist_ok=True)
    (out / rel).write_bytes(midi_bytes(played))
    return Piece(_split(group), rel, t, composer, " / ".join(Path(p).stem for p, _ in scores))


def build(out: str | Path, workers: int | None = None, seed: int = 0) -> Path:
    """Write the directory (MIDI files and maestro-v3.0.0.csv); returns it."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    by_composer = corpus_paths()
    cache = out / ".scores"
    cache.mkdir(exist_ok=True)
    jobs = [(p, cache) for ps in by_composer.values() for p in ps]
    parsed = dict(map_unordered(_parsed, jobs, workers, desc="scores"))
    rng, pieces, groups = random.Random(seed), [], 0
    for composer, paths in by_composer.items():
        group: list[tuple[str, tuple]] = []
        for i, p in enumerate(paths):
            if parsed[p] and parsed[p][0]:
                group.append((p, parsed[p]))
            if group and (sum(len(s[0]) for _, s in group) >= NOTES_PER_FILE or i == len(paths) - 1):
                for _ in range(PERFORMANCES):
                    pieces.append(_write(len(pieces), groups, composer, group, out, rng))
                group, groups = [], groups + 1
    write_csv(out, pieces)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    print(f"wrote {build(args.out, args.workers, args.seed)}")


if __name__ == "__main__":
    main()
