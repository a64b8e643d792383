"""A directory of MAESTRO's size and layout from random performance-like files, for measuring what scales
with the corpus (preprocessing, an epoch, an evaluation) where MAESTRO itself cannot be fetched.

`python -m lstm.bench.maestro_size --out DIR [--files 1276]`: MAESTRO v3's 1,276 files split 962/137/177
as published, each of 800-6,800 onsets (lstm/bench/random_midi.py), with a MAESTRO CSV. The notes are random,
so nothing is learnt from them: it measures time and memory, not accuracy (lstm.bench.performed is the
stand-in for that). Deterministic: the same --files give the same directory.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from lstm.data.maestro import Piece, write_csv
from lstm.data.parallel import map_unordered

from .random_midi import performance

MAESTRO_FILES, MAESTRO_SPLIT = 1276, (962, 137, 177)  # v3.0.0: files, and train/validation/test of them


def _write(job: tuple[int, Path]) -> None:
    i, path = job
    if not path.is_file():  # a file is a function of its number: an interrupted build goes on where it was
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(performance(i, onsets=random.Random(i).randint(800, 6800)))


def build(out: str | Path, files: int = MAESTRO_FILES, workers: int | None = None) -> Path:
    out = Path(out)
    counts = [round(files * n / MAESTRO_FILES) for n in MAESTRO_SPLIT]
    splits = ["train"] * (files - counts[1] - counts[2]) + ["validation"] * counts[1] + ["test"] * counts[2]
    pieces = [Piece(split, f"{2004 + i % 15}/piece-{i:04d}.midi", 600.0, "random", f"piece {i}")
              for i, split in enumerate(splits)]
    for _ in map_unordered(_write, [(i, out / p.midi_filename) for i, p in enumerate(pieces)], workers, "write"):
        pass
    write_csv(out, pieces)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--files", type=int, default=MAESTRO_FILES, help="default: MAESTRO v3's %(default)s")
    ap.add_argument("--workers", type=int, default=None, help="parallel processes (default: all cores)")
    args = ap.parse_args(argv)
    print(f"wrote {build(args.out, args.files, args.workers)}")


if __name__ == "__main__":
    main()
