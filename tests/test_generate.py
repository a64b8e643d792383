"""Generation on real (embedded) data with the tiny trained model: MIDI, determinism, argmax, CLI."""

from __future__ import annotations

import copy
import json
import math
import os
import shutil

import pytest
import torch

from lstm.checkpoint import load_model
from lstm.cli import main
from lstm.data.tokens import midi_tokens
from lstm.data.vocab import UNKNOWN
from lstm.music import audio, render
from lstm.music.generate import (
    UNKNOWN_ID,
    generate_piece,
    next_ids,
    prompts_from_test,
    sample_ids,
    sample_report,
)
from lstm.music.metrics import METRIC_NAMES
from lstm.music.render import build_events, midi_rhythm, token_pitches


@pytest.fixture(scope="module")
def loaded(tiny_run):
    model, saved = load_model(tiny_run)
    return model, saved["vocab"], saved["config"]["seq_len"]


@pytest.fixture(scope="module")
def prompt(loaded, prepared):
    _, vocab, seq_len = loaded
    return prompts_from_test(prepared, vocab, seq_len, 1)[0]


@pytest.fixture()
def no_fluidsynth(monkeypatch, tmp_path):
    """A PATH on which no fluidsynth exists, as on a machine without it."""
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def greedy(model, ids: list[int], length: int, seq_len: int) -> list[int]:
    """Argmax decoding written out here, independently of lstm.music.generate."""
    ids, out = list(ids), []
    with torch.no_grad():
        for _ in range(length):
            logits = model.next_logits(torch.tensor([ids[-seq_len:]]))[0].clone()
            logits[UNKNOWN_ID] = -math.inf
            nxt = int(logits.argmax())
            out.append(nxt)
            ids.append(nxt)
    return out


def test_prompt_is_the_start_of_a_test_file(prepared, loaded, prompt):
    _, vocab, seq_len = loaded
    manifest = json.loads((prepared / "manifest.json").read_text())
    assert prompt.source == manifest["splits"]["test"]["file_names"][0]
    assert len(prompt.ids) == seq_len and prompt.midi_path.is_file()
    assert prompt.tokens == midi_tokens(prompt.midi_path)[:seq_len]
    assert [vocab[i] for i in prompt.ids if i != UNKNOWN_ID] == [t for t in prompt.tokens if t in vocab]


def test_midi_parses_back_to_the_generated_tokens(loaded, prompt, tmp_path, no_fluidsynth):
    from music21 import chord, converter, note

    model, vocab, seq_len = loaded
    piece = generate_piece(model, vocab, prompt, tmp_path / "piece.mid", length=150, seed=3, seq_len=seq_len,
                           temperature=1.5)
    assert len(piece.tokens) == 150 and UNKNOWN not in piece.tokens and UNKNOWN_ID not in piece.ids
    els = list(converter.parse(tmp_path / "piece.mid").flatten().notes)
    assert len(els) == 150
    for el, token in zip(els, piece.tokens):
        assert isinstance(el, chord.Chord if "." in token or token.isdigit() else note.Note), token
    assert midi_tokens(tmp_path / "piece.mid") == piece.tokens  # notes as notes, chords as their normal order
    assert (tmp_path / "piece_pianoroll.html").is_file()
    assert len(piece.messages) == 1 and "fluidsynth" in piece.messages[0]


def test_rhythm_is_kept_beside_the_token_cache(prompt, tmp_path, monkeypatch):
    """A trial reads its prompt's rhythm every time: music21 parses the file once per content, then the cache."""
    monkeypatch.setenv("MAESTRO_LSTM_CACHE", str(tmp_path))
    render._midi_rhythm.cache_clear()
    parsed = midi_rhythm(prompt.midi_path)
    [kept] = (tmp_path / "rhythms").glob("*.json")
    assert json.loads(kept.read_text()) == {"pairs": [list(p) for p in parsed.pairs], "tempo": parsed.tempo}
    kept.write_text(json.dumps({"pairs": [[1.0, 0.5]], "tempo": 33.0}))  # what the next read must return
    render._midi_rhythm.cache_clear()
    again = midi_rhythm(prompt.midi_path)
    assert (again.pairs, again.tempo, again.source) == ([(1.0, 0.5)], 33.0, str(prompt.midi_path))
    render._midi_rhythm.cache_clear()


def test_rhythm_comes_from_the_prompt_midi(loaded, prompt, tmp_path):
    from music21 import converter

    model, vocab, seq_len = loaded
    rhythm = midi_rhythm(prompt.midi_path)
    assert rhythm.source == str(prompt.midi_path) and rhythm.tempo == 90  # the embedded files' tempo
    piece = generate_piece(model, vocab, prompt, tmp_path / "r.mid", length=120, seed=1, seq_len=seq_len,
                           audio=None)
    onsets = [ev.offset for ev in piece.events]
    iois = {b - a for a, b in zip(onsets, onsets[1:])}
    assert iois <= {ioi for ioi, _ in rhythm.pairs}
    assert len(iois) > 1 and iois != {0.5}  # not the seed's fixed eighth notes
    assert all(ev.offset // 4 == (ev.offset + ev.duration - 1e-9) // 4 for ev in piece.events)  # within a bar
    parsed = [float(el.offset) for el in converter.parse(tmp_path / "r.mid").flatten().notes]
    assert parsed == onsets


def test_fixed_seed_gives_the_same_piece(loaded, prompt, tmp_path):
    model, vocab, seq_len = loaded
    pieces = [generate_piece(model, vocab, prompt, tmp_path / f"{name}.mid", length=60, seed=7,
                             seq_len=seq_len, audio=None) for name in "ab"]
    assert pieces[0].tokens == pieces[1].tokens
    assert [(e.offset, e.duration) for e in pieces[0].events] == [(e.offset, e.duration) for e in pieces[1].events]
    assert (tmp_path / "a.mid").read_bytes() == (tmp_path / "b.mid").read_bytes()
    other = sample_ids(model, prompt.ids, 60, generator=torch.Generator().manual_seed(8), seq_len=seq_len)
    assert other[0].tolist() != pieces[0].ids


def test_temperature_zero_and_top1_are_argmax(loaded, prompt, tmp_path):
    model, vocab, seq_len = loaded
    expected = greedy(model, prompt.ids, 40, seq_len)
    assert sample_ids(model, prompt.ids, 40, temperature=0, seq_len=seq_len)[0].tolist() == expected
    assert sample_ids(model, prompt.ids, 40, top_k=1, generator=torch.Generator().manual_seed(5),
                      seq_len=seq_len)[0].tolist() == expected
    piece = generate_piece(model, vocab, prompt, tmp_path / "g.mid", length=40, temperature=0, seed=123,
                           seq_len=seq_len, audio=None)
    assert piece.ids == expected


def test_unknown_is_never_sampled_even_when_most_likely(loaded, prompt):
    model, _, seq_len = loaded
    biased = copy.deepcopy(model)
    with torch.no_grad():
        biased.out.bias[UNKNOWN_ID] += 100.0
        assert int(biased.next_logits(torch.tensor([prompt.ids])).argmax()) == UNKNOWN_ID
    for temperature in (0.0, 1.0, 3.0):
        ids = sample_ids(biased, [prompt.ids, prompt.ids], 30, temperature, generator=torch.Generator().manual_seed(0),
                         seq_len=seq_len)
        assert ids.shape == (2, 30) and not (ids == UNKNOWN_ID).any()


def test_top_k_samples_only_among_the_k_best():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 50, generator=gen)
    logits[:, UNKNOWN_ID] = 10.0  # the best logit, and masked
    allowed = logits[:, 1:].topk(3, dim=-1).indices + 1
    seen = torch.stack([next_ids(logits, 2.0, 3, gen) for _ in range(300)], dim=1)  # (4, 300)
    for row in range(4):
        assert set(seen[row].tolist()) == set(allowed[row].tolist())


def test_chord_voicing_and_bar_lines():
    assert token_pitches("7.11.2") == (67, 71, 74)  # G4 B4 D5
    assert token_pitches("11.2.5") == (71, 74, 77)
    assert token_pitches("0") == (60, 72)  # one pitch class: an octave
    assert token_pitches("E-4") == (63,) and token_pitches("C#2") == (37,)
    from lstm.music.render import Rhythm

    events = build_events(["C4", "D4", "C4"], Rhythm([(3.0, 4.0)], 120.0, "test"))
    assert [(e.offset, e.duration) for e in events] == [(0.0, 4.0), (3.0, 1.0), (6.0, 2.0)]  # cut at the bar
    events = build_events(["C4", "C4", "E4", "C4"], Rhythm([(1.0, 2.0)], 120.0, "test"))
    assert [(e.offset, e.duration) for e in events] == [(0.0, 1.0), (1.0, 2.0), (2.0, 2.0), (3.0, 1.0)]


def test_cli_writes_midi_and_piano_roll_and_says_fluidsynth_is_missing(tiny_run, prepared, tmp_path, capsys,
                                                                       no_fluidsynth):
    out = tmp_path / "piece.mid"
    rc = main(["generate", "--model", str(tiny_run), "--data", str(prepared), "--out", str(out),
               "--length", "60", "--seed", "11", "--top-k", "10"])
    assert rc == 0
    assert len(midi_tokens(out)) == 60
    html = (tmp_path / "piece_pianoroll.html").read_text()
    assert "plotly" in html and 'src="https://cdn.plot.ly' not in html and len(html) > 1_000_000  # plotly.js embedded
    assert not [p for p in tmp_path.iterdir() if p.suffix in audio.SUFFIXES]
    lines = capsys.readouterr().out.splitlines()
    missing = [line for line in lines if "fluidsynth" in line.lower()]
    assert len(missing) == 1 and missing[0].startswith("no audio: fluidsynth not found")
    assert "apt-get install fluidsynth fluid-soundfont-gm" in missing[0]
    assert any("seed 11" in line for line in lines)


@pytest.mark.parametrize("option, value, message", [("--length", "0", "length must be at least 1"),
                                                    ("--temperature", "-1", "temperature must be >= 0"),
                                                    ("--top-k", "0", "top-k must be at least 1")])
def test_bad_sampling_options_fail_before_a_model_is_loaded(prepared, tmp_path, capsys, option, value, message):
    missing = tmp_path / "no-such-run"  # the options are checked first: no model is read
    assert main(["generate", "--model", str(missing), "--data", str(prepared), "--out", str(tmp_path / "x.mid"),
                 option, value]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err


def test_cli_needs_data_or_prompt(tiny_run, tmp_path, capsys):
    assert main(["generate", "--model", str(tiny_run), "--out", str(tmp_path / "x.mid")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--data" in err and "--prompt" in err
    assert not (tmp_path / "x.mid").exists()


def test_cli_prompt_midi(tiny_run, embedded_dir, tmp_path, capsys, no_fluidsynth):
    # models:/NAME@ALIAS is tested against a real MLflow server in tests/test_e2e.py
    midi = sorted(embedded_dir.glob("*/chorales-019.midi"))[0]
    out = tmp_path / "p.mid"
    rc = main(["generate", "--model", str(tiny_run), "--prompt", str(midi), "--out", str(out),
               "--length", "30", "--temperature", "0"])
    assert rc == 0
    assert len(midi_tokens(out)) == 30
    assert f"rhythm: {midi}" in capsys.readouterr().out


def ogg_vorbis_info(data: bytes) -> tuple[int, float]:
    """(sample rate, seconds) of an Ogg Vorbis file, read from its headers: the identification header holds
    the rate, the last page's granule position the number of samples."""
    assert data[:4] == b"OggS"
    ident = data.index(b"\x01vorbis") + 7
    rate = int.from_bytes(data[ident + 5:ident + 9], "little")
    last = data.rindex(b"OggS")
    return rate, int.from_bytes(data[last + 6:last + 14], "little") / rate


AUDIO = pytest.mark.skipif(audio.missing() is not None, reason=f"no audio here: {audio.missing()}")


@AUDIO
def test_cli_writes_compressed_audio_beside_the_midi(tiny_run, prepared, tmp_path, capsys):
    """The trial's sample length (200 tokens): Ogg Vorbis, under 1 MB, more than a second of sound."""
    out = tmp_path / "w.mid"
    assert main(["generate", "--model", str(tiny_run), "--data", str(prepared), "--out", str(out),
                 "--length", "200", "--seed", "1"]) == 0
    ogg = tmp_path / "w.ogg"
    assert f"wrote {ogg}" in capsys.readouterr().out
    rate, seconds = ogg_vorbis_info(ogg.read_bytes())
    assert rate == 24000 and seconds > 10
    assert ogg.stat().st_size < 1_000_000
    assert not (tmp_path / "w.wav").exists()


@AUDIO
def test_flac_and_wav_on_request(tiny_run, prepared, tmp_path):
    import wave

    out = tmp_path / "w.mid"
    assert main(["generate", "--model", str(tiny_run), "--data", str(prepared), "--out", str(out),
                 "--length", "20", "--seed", "1", "--audio", "flac"]) == 0
    assert (tmp_path / "w.flac").read_bytes()[:4] == b"fLaC" and not (tmp_path / "w.ogg").exists()
    wav, msg = audio.write_audio(out, "wav")
    assert wav == tmp_path / "w.wav", msg
    with wave.open(str(wav)) as w:
        assert w.getnframes() > w.getframerate()  # more than a second of sound


def test_sample_report(loaded, prepared, tmp_path):
    model, vocab, seq_len = loaded
    m = sample_report(model, vocab, prepared, tmp_path / "s", seed=2, n_pieces=3, length=50, seq_len=seq_len)
    assert tuple(m) == METRIC_NAMES
    assert all(isinstance(v, float) and math.isfinite(v) for v in m.values())
    assert 0 <= m["music_pc_tvd"] <= 1 and 0 < m["music_distinct_ratio"] <= 1
    assert m["music_pc_tvd"] < 0.5  # even a tiny model plays roughly in the test split's keys
    assert len(midi_tokens(tmp_path / "s" / "sample.mid")) == 50
    assert (tmp_path / "s" / "sample_pianoroll.html").is_file()
    assert sample_report(model, vocab, prepared, tmp_path / "t", seed=2, n_pieces=3, length=50,
                         seq_len=seq_len) == m
    assert (tmp_path / "s" / "sample.mid").read_bytes() == (tmp_path / "t" / "sample.mid").read_bytes()


def test_evaluate_music_flag(tiny_run, prepared, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(tiny_run / "model.pt", run / "model.pt")
    assert main(["evaluate", "--model", str(run), "--data", str(prepared), "--device", "cpu", "--music"]) == 0
    out = capsys.readouterr().out
    assert "pitch-class TVD" in out and "repeat rate" in out and "distinct ratio" in out


def test_a_trials_music_imports_no_music21_once_its_rhythm_is_kept(tiny_run, prepared, tmp_path):
    """music21 costs a trial 0.4 s to import: with its prompt's rhythm kept, the sample needs none of it."""
    import subprocess
    import sys

    script = f"""
import sys
from lstm.checkpoint import load_model
from lstm.music.generate import sample_report
model, saved = load_model({str(tiny_run)!r})
sample_report(model, saved["vocab"], {str(prepared)!r}, sys.argv[1], seq_len=saved["config"]["seq_len"],
              audio=None)
print("music21" in sys.modules)
"""
    env = {**os.environ, "MAESTRO_LSTM_CACHE": str(tmp_path / "cache")}
    first, second = (subprocess.run([sys.executable, "-c", script, str(tmp_path / out)], env=env, text=True,
                                    capture_output=True, check=True).stdout.split()[-1] for out in ("a", "b"))
    assert (first, second) == ("True", "False")  # the first parses the prompt's rhythm with music21
    assert (tmp_path / "a" / "sample.mid").read_bytes() == (tmp_path / "b" / "sample.mid").read_bytes()
    assert len(midi_tokens(tmp_path / "b" / "sample.mid")) == 200
