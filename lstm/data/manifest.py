"""manifest.json: what `lstm prepare` made of a data set, read and written as one typed structure.

Every reader of a prepared directory (training, evaluation, generation, the sweep, the bench) goes
through `Manifest`, so the file's fields are named here once. README: "What `prepare` writes".
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

# A copy of a prepared directory made on another machine (the study's published data set) carries the MIDI
# files of its test split here, by their names: generation takes a prompt's rhythm from its MIDI file.
SOURCES = "midi"


def source_midi(prepared: Path, data_dir: str | Path, name: str) -> Path:
    """A file of the data set: where it was prepared, else the copy a published data set carries."""
    original = Path(data_dir) / name
    copy = Path(prepared) / SOURCES / name
    return copy if not original.is_file() and copy.is_file() else original


@dataclass
class SplitSummary:
    files: int
    tokens: int
    unknown_rate: float  # share of tokens never seen in train (id 0, the unknown token)
    windows: int  # training windows of `seq_len` tokens: tokens with at least `seq_len` tokens before them
    file_names: list[str]
    # What every model is scored on (lstm/data/targets.py); None: prepared before these were counted.
    targets: int | None = None  # tokens with at least CONTEXT tokens before them in their file
    files_without_targets: int | None = None  # files of CONTEXT tokens or fewer


@dataclass
class Manifest:
    tokenizer_version: str
    music21_version: str
    input_hash: str  # the data's identity: which file went to which split, and its content
    data_dir: str
    seq_len: int  # the length the `windows` counts are for
    max_duration: float | None
    split: dict  # how the files were split, with a `description` for people
    part: str
    vocab_size: int
    token_dtype: str
    splits: dict[str, SplitSummary]
    skipped: list[dict]  # {file, split, reason} of each file that gave no tokens
    parsed: int  # files parsed by this run; the others came from the token cache
    cache_hits: int
    readers: dict[str, int]  # files read by each reader (fast, music21)
    fast_declined: dict[str, int]  # why the fast reader handed files to music21
    baselines: dict = field(default_factory=dict)  # lstm.baselines.data_baselines, on the targets

    @classmethod
    def from_dict(cls, d: dict) -> Manifest:
        return cls(**{**d, "splits": {name: SplitSummary(**s) for name, s in d["splits"].items()}})

    def to_dict(self) -> dict:
        return asdict(self)

    def write(self, data: str | Path) -> None:
        (Path(data) / "manifest.json").write_text(json.dumps(self.to_dict(), indent=2))


def read_prepared(data: str | Path, name: str):
    """A JSON file of a directory written by `lstm prepare`, or a one-line error."""
    path = Path(data) / name
    if not path.is_file():
        raise FileNotFoundError(f"{data} is not a prepared directory (no {name}); run `lstm prepare`")
    return json.loads(path.read_text())


def load_manifest(data: str | Path) -> Manifest:
    """manifest.json of a directory written by `lstm prepare`."""
    return Manifest.from_dict(read_prepared(data, "manifest.json"))
