"""A MAESTRO directory exactly as published: `maestro-v*.csv` plus MIDI files under `YEAR/`."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

SPLITS = ("train", "validation", "test")
REQUIRED_COLUMNS = {"canonical_composer", "canonical_title", "split", "year", "midi_filename", "duration"}
CSV_NAMES = ("maestro-v3.0.0.csv", "maestro-v2.0.0.csv")
CSV_GLOB = "maestro-v*.csv"


class DatasetError(Exception):
    """The directory is not usable as a whole; the message is the one-line reason."""


@dataclass(frozen=True)
class Piece:
    split: str
    midi_filename: str  # relative to the data directory, as in the CSV
    duration: float
    composer: str
    title: str


def find_csv(data_dir: Path) -> Path:
    for name in CSV_NAMES:
        if (data_dir / name).is_file():
            return data_dir / name
    found = sorted(data_dir.glob(CSV_GLOB))
    if found:
        return found[-1]
    raise DatasetError(f"{data_dir} is not a MAESTRO directory: no maestro-v2.0.0.csv or maestro-v3.0.0.csv")


def read_pieces(data_dir: str | Path, max_duration: float | None = None) -> list[Piece]:
    """Rows of the MAESTRO CSV, optionally only pieces shorter than `max_duration` seconds (the seed used 1000)."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DatasetError(f"data directory {data_dir} does not exist")
    path = find_csv(data_dir)
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = REQUIRED_COLUMNS - set(reader.fieldnames or ())
        if missing:
            raise DatasetError(f"{path.name} lacks the MAESTRO columns {', '.join(sorted(missing))}")
        pieces = []
        for row in reader:
            split = row["split"].strip()
            if split not in SPLITS:
                continue
            duration = float(row["duration"] or 0)
            if max_duration is not None and duration >= max_duration:
                continue
            pieces.append(Piece(split, row["midi_filename"].strip(), duration,
                                row["canonical_composer"], row["canonical_title"]))
    return pieces


def write_csv(data_dir: Path, pieces: list[Piece], name: str = "maestro-v3.0.0.csv") -> Path:
    """Write pieces as a MAESTRO CSV (used for the embedded dataset)."""
    path = data_dir / name
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["canonical_composer", "canonical_title", "split", "year",
                         "midi_filename", "audio_filename", "duration"])
        for p in pieces:
            year = p.midi_filename.split("/", 1)[0]
            writer.writerow([p.composer, p.title, p.split, year, p.midi_filename,
                             p.midi_filename.rsplit(".", 1)[0] + ".wav", f"{p.duration:.3f}"])
    return path
