"""The embedded default dataset: Bach chorales from music21's own corpus, laid out like MAESTRO.

Works offline on a fresh machine. Four chorales are joined into one piano "performance" so that a
file is long enough for 100-token windows; the split is fixed (every 10th file to validation, the
next to test). The directory is then prepared by exactly the same code path as real MAESTRO.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .maestro import Piece, write_csv

EMBEDDED_VERSION = "1"
CHORALES_PER_FILE = 4
N_FILES = 50


def default_cache_dir() -> Path:
    return Path(os.environ.get("MAESTRO_LSTM_CACHE", Path.home() / ".cache" / "maestro-lstm"))


def chorale_paths() -> list[str]:
    from music21 import corpus

    paths = sorted(str(p) for p in corpus.getComposer("bach") if str(p).endswith((".mxl", ".xml", ".musicxml")))
    return paths[: CHORALES_PER_FILE * N_FILES]


def split_of(index: int) -> str:
    return {8: "validation", 9: "test"}.get(index % 10, "train")


def _write_performance(args: tuple[int, list[str], Path]) -> Piece:
    """Join chorales into one single-track piano MIDI file; returns its CSV row."""
    from music21 import corpus, instrument, note, stream, tempo

    index, paths, out_dir = args
    part = stream.Part()
    part.insert(0, instrument.Piano())
    part.insert(0, tempo.MetronomeMark(number=90))
    offset = 0.0
    titles = []
    for path in paths:
        score = corpus.parse(path).stripTies()
        for n in score.flatten().notes:
            if isinstance(n, note.Note):
                part.insert(offset + float(n.offset), note.Note(n.pitch, quarterLength=n.quarterLength))
        offset += float(score.highestTime) + 2.0  # two beats of silence between chorales
        titles.append(Path(path).stem)
    year = 2000 + index % 5
    rel = f"{year}/chorales-{index:03d}.midi"
    (out_dir / str(year)).mkdir(parents=True, exist_ok=True)
    stream.Score([part]).write("midi", fp=str(out_dir / rel))
    return Piece(split_of(index), rel, offset * 60.0 / 90, "Johann Sebastian Bach", " / ".join(titles))


def build_embedded(cache_dir: Path | None = None, workers: int | None = None) -> Path:
    """Write (once) and return the embedded dataset directory."""
    import music21

    from .parallel import map_unordered

    root = (cache_dir or default_cache_dir()) / f"embedded-v{EMBEDDED_VERSION}-music21-{music21.__version__}"
    if (root / "maestro-v3.0.0.csv").is_file():
        return root
    tmp = root.with_name(root.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    paths = chorale_paths()
    jobs = [(i, paths[i * CHORALES_PER_FILE:(i + 1) * CHORALES_PER_FILE], tmp) for i in range(N_FILES)]
    pieces = list(map_unordered(_write_performance, jobs, workers, desc="embedded dataset"))
    pieces.sort(key=lambda p: p.midi_filename)
    write_csv(tmp, pieces)
    try:
        tmp.rename(root)
    except OSError:  # built concurrently by another process: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
    return root
