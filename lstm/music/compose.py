"""A composer: a trained model packed with everything it needs to turn MIDI in into MIDI out.

A composer folder holds `model.pt` (weights, config, vocabulary: lstm.checkpoint) and `primer.json`: the
tokens a piece starts from when the caller gives none (the start of one of its data's test pieces), with
that piece's rhythm (lstm.music.render.Rhythm). So a composer needs no prepared data folder and no music21:
a primer MIDI is read by the fast reader (lstm/data/fast_midi.py), the piece is written through mido.

The registered model of a study is a composer (flows/sweep/composer.py wraps it for MLflow), and
`lstm generate --model models:/NAME@ALIAS` samples from the same folder with the same `compose`.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

import torch
from torch import nn

from lstm.data.vocab import UNKNOWN_ID

from .generate import Prompt, check_sampling, sample_ids
from .render import Event, Rhythm, build_events, midi_bytes

WEIGHTS_FILE = "model.pt"
PRIMER_FILE = "primer.json"
COMPOSER_DIR = "composer"  # the folder's name inside a packaged model (flows/sweep/composer.py)
DEFAULT_SAMPLING = {"length": 200, "temperature": 1.0, "top_k": 0, "seed": 0}  # top_k 0: all tokens


class PrimerError(ValueError):
    """A primer the composer cannot start from; the message is one line for the person who sent it."""


@dataclass
class Composer:
    model: nn.Module
    vocab: list[str]
    seq_len: int
    primer: Prompt  # the default start
    rhythm: Rhythm  # the default primer's rhythm: every piece is placed in time with it


@dataclass
class Composition:
    tokens: list[str]  # the continuation only, not the primer
    events: list[Event]
    rhythm: Rhythm

    @property
    def seconds(self) -> float:
        end = max((ev.offset + ev.duration for ev in self.events), default=0.0)
        return end * 60.0 / self.rhythm.tempo

    def midi(self) -> bytes:
        return midi_bytes(self.events, self.rhythm.tempo)


def is_composer(path: str | Path) -> bool:
    return (Path(path) / PRIMER_FILE).is_file() and (Path(path) / WEIGHTS_FILE).is_file()


def save_composer(folder: str | Path, model_pt: str | Path, primer: Prompt, rhythm: Rhythm) -> Path:
    """A composer folder from a run's model.pt, its default primer and that primer's rhythm."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(model_pt, folder / WEIGHTS_FILE)
    (folder / PRIMER_FILE).write_text(json.dumps({
        "tokens": primer.tokens, "source": Path(primer.source).name,
        "rhythm": {"pairs": rhythm.pairs, "tempo": rhythm.tempo, "source": Path(rhythm.source).name}}))
    return folder


def load_composer(folder: str | Path, device: str | torch.device = "cpu") -> Composer:
    """The composer of a folder, on `device` (the CPU by default, whatever device trained it)."""
    from lstm.checkpoint import load_model

    folder = Path(folder)
    model, saved = load_model(folder / WEIGHTS_FILE, device)
    kept = json.loads((folder / PRIMER_FILE).read_text())
    index = {t: i for i, t in enumerate(saved["vocab"])}
    primer = Prompt([index.get(t, UNKNOWN_ID) for t in kept["tokens"]], kept["tokens"], kept["source"])
    r = kept["rhythm"]
    rhythm = Rhythm([tuple(p) for p in r["pairs"]], r["tempo"], r["source"])
    return Composer(model, saved["vocab"], saved["config"]["seq_len"], primer, rhythm)


def primer_from_midi(composer: Composer, data: bytes, source: str = "primer") -> Prompt:
    """The last seq_len tokens of a standard MIDI file, as ids of the composer's vocabulary."""
    from lstm.data.tokens import TokenizeError, midi_tokens

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "primer.mid"
        path.write_bytes(data)
        try:  # a composer's own environment may have no music21: then the fast reader alone
            tokens = midi_tokens(path, fallback=find_spec("music21") is not None)[-composer.seq_len:]
        except TokenizeError as exc:
            raise PrimerError(f"{source}: {exc}") from None
    index = {t: i for i, t in enumerate(composer.vocab)}
    ids = [index.get(t, UNKNOWN_ID) for t in tokens]
    if all(i == UNKNOWN_ID for i in ids):
        raise PrimerError(f"{source}: none of its {len(ids)} notes/chords is in the model's vocabulary")
    return Prompt(ids, tokens, source)


def compose(composer: Composer, primer: Prompt | None = None, *, length: int = 200, temperature: float = 1.0,
            top_k: int | None = None, seed: int = 0) -> Composition:
    """Sample `length` tokens after the primer (None: the composer's own) and place them in time.

    One generator seeded with `seed` draws the tokens, then the rhythm: a seed fixes the piece."""
    check_sampling(length, temperature, top_k)
    primer = primer or composer.primer
    gen = torch.Generator().manual_seed(seed)
    ids = sample_ids(composer.model, primer.ids, length, temperature, top_k, gen, composer.seq_len)[0].tolist()
    tokens = [composer.vocab[i] for i in ids]
    return Composition(tokens, build_events(tokens, composer.rhythm, gen), composer.rhythm)

