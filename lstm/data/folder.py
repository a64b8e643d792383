"""A plain folder of MIDI files (searched recursively, `.mid`/`.midi` in any case), split by hashing.

Each file's split is decided by its own path alone: sha256 of `SEED:relative/path` read as a number
in [0, 1), then cut at the ratios (80/10/10 by default). So the split is the same on every machine
and in every run, and adding or removing files never moves another file to a different split.

Except in a small folder, where the cut may leave validation or test empty (10 files: a chance in three
for each): then the empty split takes the file whose number lies nearest its share, from a split that
keeps one. Still the hashes decide, and such a lent file is the only one that can move back when files
are added. A folder needs MIN_FILES files for that.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from .maestro import SPLITS, DatasetError, Piece

MIDI_SUFFIXES = (".mid", ".midi")
DEFAULT_RATIOS = (0.8, 0.1, 0.1)
DEFAULT_SEED = 0
MIN_FILES = len(SPLITS)  # one a split


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


def share(rel: str, seed: int = DEFAULT_SEED) -> float:
    """The file's number in [0, 1): sha256 of `SEED:relative/path`."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{rel}".encode()).digest()[:8], "big") / 2**64


def split_of(rel: str, ratios: tuple[float, float, float] = DEFAULT_RATIOS, seed: int = DEFAULT_SEED) -> str:
    """The split the cut at the ratios gives this file alone."""
    u, edge = share(rel, seed), 0.0
    for split, ratio in zip(SPLITS, ratios):
        edge += ratio
        if u < edge:
            return split
    return next(s for s, r in zip(SPLITS[::-1], ratios[::-1]) if r)  # rounding left u just under 1


def assign_splits(rels: list[str], ratios: tuple[float, float, float] = DEFAULT_RATIOS,
                  seed: int = DEFAULT_SEED) -> dict[str, str]:
    """Each file's split: its own (split_of), but an empty split takes the file nearest its share."""
    splits = {rel: split_of(rel, ratios, seed) for rel in rels}
    edges = [sum(ratios[:i]) for i in range(len(SPLITS) + 1)]
    for i, split in enumerate(SPLITS):
        if split in splits.values():
            continue
        sizes = {s: list(splits.values()).count(s) for s in SPLITS}
        lenders = [rel for rel in rels if sizes[splits[rel]] > 1]
        lo, hi = edges[i], edges[i + 1]
        nearest = min(lenders, key=lambda rel: max(lo - share(rel, seed), share(rel, seed) - hi, 0.0))
        splits[nearest] = split
    return splits


def read_folder(data_dir: Path, ratios: tuple[float, float, float] = DEFAULT_RATIOS,
                seed: int = DEFAULT_SEED) -> list[Piece]:
    """The folder's MIDI files as pieces (no duration, composer or title: a folder has no such table)."""
    ratios = check_ratios(ratios)
    rels = midi_files(data_dir)
    if len(rels) < MIN_FILES:
        raise DatasetError(f"{data_dir} has {len(rels)} MIDI file{'' if len(rels) == 1 else 's'}: a plain folder needs "
                           f"at least {MIN_FILES}, one each for train, validation and test")
    splits = assign_splits(rels, ratios, seed)
    return [Piece(splits[rel], rel, 0.0, "", Path(rel).stem) for rel in rels]
