"""A plain folder of MIDI files (searched recursively, `.mid`/`.midi` in any case), split by hashing.

Each file's split is decided by its own path alone: sha256 of `SEED:relative/path` read as a number
in [0, 1), then cut at the ratios (80/10/10 by default). So the split is the same on every machine
and in every run, and adding or removing files never moves another file to a different split.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from .maestro import SPLITS, Piece

MIDI_SUFFIXES = (".mid", ".midi")
DEFAULT_RATIOS = (0.8, 0.1, 0.1)
DEFAULT_SEED = 0


def midi_files(data_dir: Path) -> list[str]:
    """Paths (relative, with '/') of the MIDI files under data_dir, sorted; hidden folders are left out."""
    found = []
    for path in data_dir.rglob("*"):
        rel = path.relative_to(data_dir)
        if path.suffix.lower() in MIDI_SUFFIXES and path.is_file() and not any(p.startswith(".") for p in rel.parts):
            found.append(rel.as_posix())
    return sorted(found)


def check_ratios(ratios: tuple[float, float, float]) -> tuple[float, float, float]:
    if len(ratios) != 3 or any(r < 0 for r in ratios) or ratios[0] <= 0 or abs(sum(ratios) - 1) > 1e-6:
        raise ValueError(f"split ratios must be three shares of train/validation/test that add up to 1 "
                         f"with train > 0, not {'/'.join(f'{r:g}' for r in ratios)}")
    return tuple(ratios)


def split_of(rel: str, ratios: tuple[float, float, float] = DEFAULT_RATIOS, seed: int = DEFAULT_SEED) -> str:
    digest = hashlib.sha256(f"{seed}:{rel}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    edge = 0.0
    for split, ratio in zip(SPLITS, ratios):
        edge += ratio
        if u < edge:
            return split
    return next(s for s, r in zip(SPLITS[::-1], ratios[::-1]) if r)  # rounding left u just under 1


def read_folder(data_dir: Path, ratios: tuple[float, float, float] = DEFAULT_RATIOS,
                seed: int = DEFAULT_SEED) -> list[Piece]:
    """The folder's MIDI files as pieces (no duration, composer or title: a folder has no such table)."""
    ratios = check_ratios(ratios)
    return [Piece(split_of(rel, ratios, seed), rel, 0.0, "", Path(rel).stem) for rel in midi_files(data_dir)]
