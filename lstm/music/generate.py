"""`lstm generate`: sample a piece from a trained model and write it as MIDI (+ piano roll, audio).

Prompt: the first seq_len tokens of the first test file with at least seq_len tokens (`--data`), or
of a MIDI file (`--prompt`, tokenized like the training data; tokens the model has never seen
become the unknown id 0). The model then sees at most the last seq_len tokens (config['seq_len']).

Sampling: softmax(logits / temperature) restricted to the top-k logits; argmax at temperature 0.
The unknown token (id 0) is never emitted: its logit is set to -inf first. Everything random (the
tokens, then the rhythm) comes from one `torch.Generator` seeded with --seed, so a seed fixes the
piece, and the MIDI bytes with it.

Writing: a note token is that pitch; a chord token (normal order, octave lost) becomes one pitch per
pitch class, voiced upwards from the first pitch class in octave 4 (`7.11.2` → G4 B4 D5; a
single-pitch-class chord becomes an octave, as it arises from octaves). The rhythm is the prompt's
own: pairs (inter-onset interval, duration) of consecutive notes/chords of the whole prompt MIDI (for a
--data prompt: the test file it came from, found through manifest.json), one pair drawn at random
per event; both snapped to the sixteenth (1/4 beat, at least 1/4) so that music21 reads every event
back as one note or chord. The tempo is the MIDI file's first metronome mark. Without that file,
DEFAULT_RHYTHM at DEFAULT_TEMPO. The piece is in 4/4; a note is cut short at the barline (music21
would read it back as two tied notes: two tokens) and where the same pitch strikes again while it
sounds. So the written MIDI, tokenized like the training data, gives back exactly the sampled tokens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lstm.data.manifest import load_manifest, source_midi
from lstm.data.vocab import UNKNOWN_ID
from lstm.data.windows import load_vocab

from .audio import DEFAULT_FORMAT
from .metrics import format_music_metrics, music_metrics
from .render import (
    Event,
    Rhythm,
    build_events,
    default_rhythm,
    midi_rhythm,
    roll_notes,
    write_midi,
)


@dataclass
class Prompt:
    ids: list[int]  # in the model's vocabulary
    tokens: list[str]
    source: str  # a test file's name or a MIDI path
    midi_path: Path | None = None  # where its rhythm comes from, when it exists


@dataclass
class GeneratedPiece:
    """What generate_piece sampled (the continuation, not the prompt) and what it wrote."""

    tokens: list[str]
    ids: list[int]
    events: list[Event]
    rhythm: Rhythm
    files: list[Path] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------- sampling

def next_ids(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """(B, V) logits → (B,) ids, never UNKNOWN_ID; argmax when temperature is 0."""
    logits = logits.detach().float().cpu().clone()
    if logits.shape[-1] <= 1:
        raise ValueError("the vocabulary holds only the unknown token: nothing to sample")
    logits[:, UNKNOWN_ID] = -math.inf
    if temperature <= 0:
        return logits.argmax(-1)
    logits = logits / temperature
    if top_k is not None and 0 < top_k < logits.shape[-1] - 1:
        kth = logits.topk(top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, -math.inf)
    probs = torch.softmax(logits.double(), dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)


def check_sampling(length: int, temperature: float, top_k: int | None) -> None:
    """The sampling options, checked once for every caller (the CLI checks before it loads a model)."""
    if length < 1:
        raise ValueError(f"length must be at least 1, not {length}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, not {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top-k must be at least 1, not {top_k}")


def sample_ids(model: nn.Module, prompt, length: int, temperature: float = 1.0, top_k: int | None = None,
               generator: torch.Generator | None = None, seq_len: int | None = None) -> torch.Tensor:
    """Continue `prompt` ((L,) or (B, L) ids) by `length` tokens; returns (B, length) ids on the CPU.

    The model sees the last `seq_len` tokens (all of them when None); it is put in eval mode for the
    call and given back in the mode it had."""
    check_sampling(length, temperature, top_k)
    ctx = torch.as_tensor(prompt, dtype=torch.long)
    if ctx.dim() == 1:
        ctx = ctx[None]
    if ctx.shape[-1] == 0:
        raise ValueError("empty prompt")
    dev = next(model.parameters()).device
    ctx = ctx.to(dev)
    out = []
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for _ in range(length):
                if seq_len:
                    ctx = ctx[:, -seq_len:]
                nxt = next_ids(model.next_logits(ctx), temperature, top_k, generator)
                out.append(nxt)
                ctx = torch.cat([ctx, nxt.to(dev)[:, None]], dim=1)
    finally:
        model.train(was_training)
    return torch.stack(out, dim=1) if out else torch.zeros(ctx.shape[0], 0, dtype=torch.long)


# ------------------------------------------------------------------------------------ writing

def output_paths(midi_path: Path) -> dict[str, Path]:
    return {"html": midi_path.with_name(midi_path.stem + "_pianoroll.html")}


def write_piece(tokens: list[str], rhythm: Rhythm, midi_path: str | Path, generator: torch.Generator | None = None,
                title: str = "", audio: str | None = DEFAULT_FORMAT) -> tuple[list[Event], list[Path], list[str]]:
    """MIDI + piano roll (+ PNG, + audio in format AUDIO when FluidSynth can; None: no audio):
    (events, files written, messages such as 'no audio: ...')."""
    from .audio import start_audio
    from .pianoroll import write_piano_roll

    midi_path = Path(midi_path)
    events = build_events(tokens, rhythm, generator)
    files = [write_midi(events, midi_path, rhythm.tempo)]
    rendering = start_audio(midi_path, audio) if audio else None  # FluidSynth renders while the roll is drawn
    paths = output_paths(midi_path)
    files += write_piano_roll(roll_notes(events), paths["html"], title or midi_path.stem, rhythm.tempo)
    messages = []
    if rendering:
        sound, msg = rendering.result()
        if sound is None:
            messages.append(msg)
        else:
            files.append(sound)
    return events, files, messages


# ----------------------------------------------------------------------------------------- prompts

def _vocab_index(vocab: list[str]) -> dict[str, int]:
    return {t: i for i, t in enumerate(vocab)}


def load_test_pieces(prepared_dir: str | Path) -> tuple[list[list[str]], list[str]]:
    """The test split of a prepared directory as token strings per file, and the files' names."""
    prepared_dir = Path(prepared_dir)
    vocab = load_vocab(prepared_dir)
    tokens = np.load(prepared_dir / "test_tokens.npy")
    offsets = np.load(prepared_dir / "test_offsets.npy")
    names = load_manifest(prepared_dir).splits["test"].file_names
    pieces = [[vocab[i] for i in tokens[a:b].tolist()] for a, b in zip(offsets[:-1], offsets[1:])]
    return pieces, names


def prompts_from_test(prepared_dir: str | Path, vocab: list[str], seq_len: int, n: int = 1) -> list[Prompt]:
    """The first seq_len tokens of the first `n` test files with at least seq_len tokens (cycled when
    fewer exist), as ids of the model's `vocab`; each names its MIDI file through manifest.json."""
    prepared_dir = Path(prepared_dir)
    pieces, names = load_test_pieces(prepared_dir)
    data_dir = Path(load_manifest(prepared_dir).data_dir)
    usable = [i for i, p in enumerate(pieces) if len(p) >= seq_len]
    if not usable:
        raise ValueError(f"no test file of {prepared_dir} has {seq_len} tokens for a prompt")
    index = _vocab_index(vocab)
    prompts = []
    for k in range(n):
        i = usable[k % len(usable)]
        toks = pieces[i][:seq_len]
        prompts.append(Prompt([index.get(t, UNKNOWN_ID) for t in toks], toks, names[i],
                              source_midi(prepared_dir, data_dir, names[i])))
    return prompts


def midi_prompt(path: str | Path, vocab: list[str], seq_len: int) -> Prompt:
    """The first seq_len tokens of a MIDI file, tokenized as the training data."""
    from lstm.data.tokens import TokenizeError, midi_tokens

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"prompt {path} does not exist")
    try:
        toks = midi_tokens(path)[:seq_len]
    except TokenizeError as exc:
        raise ValueError(f"prompt {path}: {exc}") from None
    index = _vocab_index(vocab)
    return Prompt([index.get(t, UNKNOWN_ID) for t in toks], toks, str(path), path)


# ------------------------------------------------------------------------------------ the library

def generate_piece(model: nn.Module, vocab: list[str], prompt: Prompt, out: str | Path, *, length: int = 500,
                   temperature: float = 1.0, top_k: int | None = None, seed: int = 0,
                   seq_len: int | None = None, rhythm: Rhythm | None = None,
                   audio: str | None = DEFAULT_FORMAT) -> GeneratedPiece:
    """Sample `length` tokens after the prompt and write OUT (MIDI), its piano roll and, when FluidSynth can, its audio.

    The written piece is the continuation only (`length` events), not the prompt."""
    gen = torch.Generator().manual_seed(seed)
    ids = sample_ids(model, prompt.ids, length, temperature, top_k, gen, seq_len)[0].tolist()
    tokens = [vocab[i] for i in ids]
    if rhythm is None:
        rhythm = midi_rhythm(prompt.midi_path) if prompt.midi_path else default_rhythm("no MIDI for the prompt")
    title = f"generated after {Path(prompt.source).name}: {length} tokens, temperature {temperature:g}" + (
        f", top-{top_k}" if top_k else "") + f", seed {seed}"
    events, files, messages = write_piece(tokens, rhythm, out, gen, title, audio)
    return GeneratedPiece(tokens, ids, events, rhythm, files, messages)


def _generate_from_test(model, vocab, prepared_dir, seed, n_pieces, length, seq_len, temperature, top_k):
    seq_len = seq_len or load_manifest(prepared_dir).seq_len
    prompts = prompts_from_test(prepared_dir, vocab, seq_len, n_pieces)
    gen = torch.Generator().manual_seed(seed)
    ids = sample_ids(model, [p.ids for p in prompts], length, temperature, top_k, gen, seq_len)
    generated = [[vocab[i] for i in row] for row in ids.tolist()]
    return prompts, generated, gen


def music_report(model: nn.Module, vocab: list[str], prepared_dir: str | Path, seed: int = 0, n_pieces: int = 3,
                 length: int = 200, seq_len: int | None = None, temperature: float = 1.0,
                 top_k: int | None = None) -> dict[str, float]:
    """Music metrics (lstm.music.metrics) of n pieces sampled after test prompts, against the test split.
    seq_len: the model's context (None: the prepared directory's seq_len)."""
    _, generated, _ = _generate_from_test(model, vocab, prepared_dir, seed, n_pieces, length, seq_len,
                                          temperature, top_k)
    return music_metrics(generated, load_test_pieces(prepared_dir)[0])


def sample_report(model: nn.Module, vocab: list[str], prepared_dir: str | Path, out_dir: str | Path,
                  seed: int = 0, n_pieces: int = 3, length: int = 200, seq_len: int | None = None,
                  audio: str | None = DEFAULT_FORMAT) -> dict[str, float]:
    """What the study calls per trial: n pieces sampled (temperature 1) after the starts of the first
    n test files, their music metrics against the whole test split (a flat dict of floats, names in
    lstm.music.metrics.METRIC_NAMES), and the first piece written to OUT_DIR/sample.mid with its
    piano roll OUT_DIR/sample_pianoroll.html (+ .png with kaleido, + sample.ogg with FluidSynth: lstm.music.audio).

    seq_len: the model's context, config['seq_len'] (None: the prepared directory's seq_len); audio: the
    format of sample's audio, None for none (a caller may render it itself, lstm.music.audio.start_audio)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    prompts, generated, gen = _generate_from_test(model, vocab, prepared_dir, seed, n_pieces, length, seq_len,
                                                  1.0, None)
    metrics = music_metrics(generated, load_test_pieces(prepared_dir)[0])
    if generated:
        title = f"sample after {Path(prompts[0].source).name}: {length} tokens, seed {seed}"
        write_piece(generated[0], midi_rhythm(prompts[0].midi_path), out_dir / "sample.mid", gen, title, audio)
    return metrics


def evaluate_music(run: str | Path, data: str | Path, device: str = "cpu", seed: int = 0, n_pieces: int = 3,
                   length: int = 200) -> dict[str, float]:
    """music_report of a saved run (RUN or RUN/model.pt)."""
    from lstm.checkpoint import load_model

    model, saved = load_model(run, device)
    return music_report(model, saved["vocab"], data, seed, n_pieces, length, saved["config"]["seq_len"])


def print_music(run: str | Path, data: str | Path, device: str = "cpu") -> dict[str, float]:
    """`lstm evaluate --music`: print the music metrics of a run; returns them."""
    m = evaluate_music(run, data, device)
    print(format_music_metrics(m))
    return m
