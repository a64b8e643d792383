"""What `--data-dir` may be: a MAESTRO directory (its CSV's split, used as is) or a plain folder of
MIDI files (a split by hashing each file's path: lstm/data/folder.py). One function reads either."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .folder import DEFAULT_RATIOS, DEFAULT_SEED, check_ratios, midi_files, read_folder, split_of
from .maestro import CSV_GLOB, DatasetError, Piece, find_csv, read_pieces


@dataclass
class Dataset:
    layout: str  # "maestro" or "folder"
    pieces: list[Piece]
    split: dict = field(default_factory=dict)  # how train/validation/test were made, for the manifest

    def describe(self) -> str:
        """One line for `lstm prepare` and the sweep's log."""
        if self.layout == "maestro":
            return f"split: {self.split['csv']}, as published"
        ratios = "/".join(f"{r * 100:g}" for r in self.split["ratios"])
        lent = "".join(f"; {split} was empty: it took {rel}, the file nearest its share"
                       for rel, split in self.split.get("lent", {}).items())
        return (f"split: a plain folder of {len(self.pieces)} MIDI files, {ratios} train/validation/test "
                f"by a hash of each file's relative path (seed {self.split['seed']}){lent}")


def layout(data_dir: Path) -> str:
    """'maestro' or 'folder'; DatasetError (one line) for a directory that is neither."""
    if not data_dir.is_dir():
        raise DatasetError(f"data directory {data_dir} does not exist")
    if any(data_dir.glob(CSV_GLOB)):
        return "maestro"
    if midi_files(data_dir):
        return "folder"
    raise DatasetError(f"{data_dir} is neither a MAESTRO directory (maestro-v*.csv) nor a folder with MIDI "
                       f"files (*.mid, *.midi, searched recursively)")


def read_dataset(data_dir: str | Path, max_duration: float | None = None,
                 ratios: tuple[float, float, float] = DEFAULT_RATIOS, seed: int = DEFAULT_SEED) -> Dataset:
    """The pieces of a MAESTRO directory or of a plain folder, each with its split."""
    data_dir = Path(data_dir)
    check_ratios(ratios)
    if layout(data_dir) == "maestro":
        return Dataset("maestro", read_pieces(data_dir, max_duration), {"layout": "maestro",
                                                                        "csv": find_csv(data_dir).name})
    if max_duration is not None:
        raise DatasetError(f"max_duration filters by the durations of the MAESTRO CSV; {data_dir} is a plain "
                           f"folder without one")
    pieces = read_folder(data_dir, ratios, seed)
    lent = {p.midi_filename: p.split for p in pieces if p.split != split_of(p.midi_filename, ratios, seed)}
    return Dataset("folder", pieces,
                   {"layout": "folder", "ratios": list(ratios), "seed": seed, "lent": lent,
                    "rule": "sha256('SEED:relative/path') as a number in [0, 1), cut at the ratios; an empty "
                            "split takes the file nearest its share"})
