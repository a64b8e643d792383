"""`lstm bench`: preprocessing, the seed's serial music21 loop next to `lstm prepare` cold and warm,
and the fast reader's tokens compared with music21's, file by file.

All three read the same MIDI files, in one fresh process that imports neither torch nor anything
else of the bench (`python -m lstm.bench.prep`): music21 is slower in a process whose heap is full of
other objects (its garbage collector walks them all), which would flatter ours against the seed.
music21 keeps a pickle of every score it parses (under its scratch directory, keyed by the file's
path) and loads it on the next parse of that path: so the seed's loop and `lstm prepare` each read
the files through their own, fresh directory of links, and neither finds the other's pickles.
*Notes* are tokens: one note or one chord each (a chord of three note heads counts once), as the seed
and `lstm prepare` both count them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lstm.data.maestro import Piece, read_pieces, write_csv
from lstm.data.parallel import default_workers
from lstm.data.prepare import file_key, prepare
from lstm.data.tokens import TokenizeError, midi_tokens


def pick_files(data_dir: Path, max_duration: float | None, n_files: int) -> list[Piece]:
    """The first `n_files` (0: all) pieces present on disk, train pieces first so prepare has a vocabulary."""
    pieces = [p for p in read_pieces(data_dir, max_duration) if (data_dir / p.midi_filename).is_file()]
    pieces.sort(key=lambda p: p.split != "train")  # stable: CSV order within each group
    return pieces[:n_files] if n_files else pieces


def subset_dir(data_dir: Path, pieces: list[Piece], root: Path) -> Path:
    """A MAESTRO-layout directory of links to just these pieces."""
    root.mkdir(parents=True)
    for p in pieces:
        (root / p.midi_filename).parent.mkdir(parents=True, exist_ok=True)
        os.symlink((data_dir / p.midi_filename).resolve(), root / p.midi_filename)
    write_csv(root, pieces)
    return root


def drop_pickles(paths: list[Path]) -> None:
    """Remove the pickles music21 wrote for these (temporary) paths: nothing would ever read them."""
    from music21.converter import PickleFilter

    for path in paths:
        PickleFilter(path).removePickle()


def _figures(files: int, notes: int, seconds: float) -> dict:
    return {"files": files, "notes": notes, "seconds": seconds, "files_per_s": files / seconds,
            "notes_per_s": notes / seconds}


def seed_serial(data_dir: Path, pieces: list[Piece]) -> tuple[dict, dict[str, list[str]]]:
    """The seed's preprocessing: music21, one file after another, in this one process."""
    t0 = time.perf_counter()
    tokens = {}
    for p in pieces:
        try:
            tokens[p.midi_filename] = midi_tokens(data_dir / p.midi_filename, reader="music21")
        except TokenizeError:
            continue
    seconds = time.perf_counter() - t0
    return _figures(len(tokens), sum(map(len, tokens.values())), seconds), tokens


def agreement(data_dir: Path, cache: Path, music21_tokens: dict[str, list[str]]) -> dict:
    """The fast reader's tokens (from the cold run's per-file cache) against music21's, file by file."""
    fast = identical = 0
    different = []
    for name, expected in music21_tokens.items():
        entry = json.loads((cache / "tokens" / f"{file_key(data_dir / name)}.json").read_text())
        if entry.get("reader") != "fast":
            continue
        fast += 1
        if entry["tokens"] == expected:
            identical += 1
        else:
            different.append(name)
    return {"files": len(music21_tokens), "read_fast": fast, "identical": identical, "different": different}


def _prepare_timed(data_dir: Path, out: Path, cache: Path, workers: int, seq_len: int) -> dict:
    t0 = time.perf_counter()
    m = prepare(data_dir, out, cache, workers, seq_len)
    seconds = time.perf_counter() - t0
    notes = sum(s.tokens for s in m.splits.values())
    files = sum(s.files for s in m.splits.values())
    return {**_figures(files, notes, seconds), "parsed": m.parsed, "cache_hits": m.cache_hits,
            "workers": workers, "readers": m.readers, "fast_declined": m.fast_declined}


def bench_preprocessing(data_dir: Path, max_duration: float | None, n_files: int, seq_len: int,
                        workers: int | None = None) -> dict:
    import music21.converter  # noqa: F401  imported before any clock starts, for every path

    workers = workers or default_workers()
    pieces = pick_files(data_dir, max_duration, n_files)
    if not pieces:
        raise ValueError(f"no MIDI file of {data_dir} is on disk: nothing to preprocess")
    with tempfile.TemporaryDirectory(prefix="lstm-bench-prep-") as tmp:
        tmp = Path(tmp)
        seed_src = subset_dir(data_dir, pieces, tmp / "seed-data")
        seed, music21_tokens = seed_serial(seed_src, pieces)
        src = subset_dir(data_dir, pieces, tmp / "data")
        cold = _prepare_timed(src, tmp / "cold", tmp / "cache", workers, seq_len)  # an empty cache
        warm = _prepare_timed(src, tmp / "warm", tmp / "cache", workers, seq_len)  # the same cache again
        agree = agreement(src, tmp / "cache", music21_tokens)
        drop_pickles([root / p.midi_filename for root in (seed_src, src) for p in pieces])
    return {"data_dir": str(data_dir), "notes_are": "tokens (one note or one chord each)",
            "seed": seed, "cold": cold, "warm": warm, "fast_reader": agree,
            "cold_vs_seed": seed["seconds"] / cold["seconds"], "warm_vs_seed": seed["seconds"] / warm["seconds"]}


def run_child(data_dir: Path, max_duration: float | None, n_files: int, seq_len: int,
              workers: int | None = None) -> dict:
    cmd = [sys.executable, "-m", "lstm.bench.prep", str(data_dir), "--files", str(n_files), "--seq-len", str(seq_len)]
    cmd += ["--max-duration", str(max_duration)] if max_duration is not None else []
    cmd += ["--workers", str(workers)] if workers else []
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"preprocessing child failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m lstm.bench.prep")
    p.add_argument("data_dir", type=Path)
    p.add_argument("--files", type=int, default=0)
    p.add_argument("--seq-len", type=int, default=100)
    p.add_argument("--max-duration", type=float, default=None)
    p.add_argument("--workers", type=int, default=None)
    a = p.parse_args(argv)
    r = bench_preprocessing(a.data_dir, a.max_duration, a.files, a.seq_len, a.workers)
    r["torch_imported"] = "torch" in sys.modules
    print(json.dumps(r))


if __name__ == "__main__":
    main()
