"""The composer (lstm.music.compose) and the pyfunc model a study registers (flows/sweep/registry.py,
flows/sweep/composer.py), against a real MLflow registry in a local sqlite file."""

from __future__ import annotations

import base64
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient

from flows import names
from lstm.data.tokens import TokenizeError, midi_tokens
from lstm.music.compose import PrimerError, compose, load_composer, primer_from_midi, save_composer
from lstm.music.generate import prompts_from_test
from lstm.music.render import build_events, default_rhythm, midi_bytes, midi_rhythm

MIDI = Path(__file__).parent / "midi"


@pytest.fixture(scope="module")
def composer_dir(tiny_run, prepared, tmp_path_factory):
    """tiny_run's model.pt with the start of a test piece as its primer, as the registry packs it."""
    import torch

    saved = torch.load(tiny_run / "model.pt", weights_only=True)
    prompt = prompts_from_test(prepared, saved["vocab"], saved["config"]["seq_len"], 1)[0]
    return save_composer(tmp_path_factory.mktemp("composer"), tiny_run / "model.pt", prompt,
                         midi_rhythm(prompt.midi_path))


def test_a_seed_fixes_the_piece_and_its_midi_reads_back_as_the_tokens(composer_dir, tmp_path):
    composer = load_composer(composer_dir)
    one, two = (compose(composer, length=40, seed=3) for _ in range(2))
    assert one.midi() == two.midi() and len(one.tokens) == 40
    (tmp_path / "piece.mid").write_bytes(one.midi())
    assert midi_tokens(tmp_path / "piece.mid") == one.tokens
    assert one.seconds > 0


def test_a_long_primer_is_cut_to_its_last_seq_len_tokens(composer_dir):
    composer = load_composer(composer_dir)
    long = compose(composer, length=composer.seq_len + 25, seed=1)
    primer = primer_from_midi(composer, long.midi())
    assert primer.tokens == long.tokens[-composer.seq_len:]
    assert compose(composer, primer, length=8, seed=2).midi() == compose(composer, primer, length=8, seed=2).midi()


def test_primers_it_cannot_start_from_say_why(composer_dir):
    composer = load_composer(composer_dir)
    with pytest.raises(PrimerError, match="not a MIDI file"):
        primer_from_midi(composer, b"hello")
    with pytest.raises(PrimerError, match="empty file"):
        primer_from_midi(composer, b"")
    empty = (MIDI / "empty.midi").read_bytes()  # a valid file without a note
    with pytest.raises(PrimerError, match="no notes or chords"):
        primer_from_midi(composer, empty)
    with pytest.raises(TokenizeError, match=r"needs music21 to be read \(0 tracks with notes\)"):  # without music21
        midi_tokens(MIDI / "empty.midi", fallback=False)
    foreign = [t for t in ("C0", "D0", "E0", "C#8") if t not in composer.vocab]
    events = build_events(foreign, default_rhythm())
    with pytest.raises(PrimerError, match="vocabulary"):
        primer_from_midi(composer, midi_bytes(events))


@pytest.fixture(scope="module")
def registry(tiny_run, prepared, tmp_path_factory):
    """tiny_run promoted by the registry's own `promote`, as a sweep leaves it; then a second promotion."""
    from flows.sweep.registry import promote

    root = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    mp = pytest.MonkeyPatch()
    mp.setenv("MLFLOW_TRACKING_URI", uri)
    c = MlflowClient(uri)
    experiment = c.create_experiment("tiny", artifact_location=(root / "artifacts").as_uri())
    runs = []
    for accuracy in (0.10, 0.20):
        run_id = c.create_run(experiment).info.run_id
        c.log_artifact(run_id, str(tiny_run / "model.pt"), names.CHECKPOINT_DIR)
        c.log_metric(run_id, names.VAL_ACCURACY, accuracy)
        c.log_metric(run_id, names.VAL_TARGETS, 500)
        runs.append(promote(run_id, "tiny-lstm", "s1", len(runs), accuracy, accuracy, "hash", prepared))
    yield {"uri": uri, "client": c, "promotions": runs}
    mp.undo()


def test_the_registered_model_composes_through_pyfunc(registry, monkeypatch):
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry["uri"])
    model = mlflow.pyfunc.load_model("models:/tiny-lstm@champion")
    out = model.predict(pd.DataFrame({"primer": ["", ""]}), params={"length": 32, "seed": 3})
    assert list(out.columns) == ["midi", "tokens", "notes", "seconds"] and len(out) == 2
    assert out["notes"].tolist() == [32, 32] and out["midi"][0] == out["midi"][1]
    midi = base64.b64decode(out["midi"][0])
    primed = model.predict(pd.DataFrame({"primer": [base64.b64encode(midi).decode()]}), params={"length": 8})
    assert primed["notes"][0] == 8
    with pytest.raises(Exception, match="not a MIDI file"):
        model.predict(pd.DataFrame({"primer": [base64.b64encode(b"hello").decode()]}))
    logits = model.unwrap_python_model().composer.model.next_logits
    import torch

    for length in (5, 120):  # any context length runs
        assert logits(torch.randint(1, 20, (3, length))).shape[0] == 3


def test_each_version_has_a_card_and_its_alias_history(registry):
    c, (first, second) = registry["client"], registry["promotions"]
    assert (first.alias, second.alias) == (names.CHAMPION, names.CHAMPION)
    card = c.get_model_version("tiny-lstm", str(second.version)).description
    for text in ("bigram baseline", "1.46%", "mlflow models serve", "study `s1`", "20.00%", "parameters"):
        assert text in card, text
    history = c.get_model_version("tiny-lstm", str(first.version)).tags[names.ALIAS_HISTORY].splitlines()
    assert len(history) == 2 and "champion by study s1" in history[0]
    assert f"champion lost to v{second.version}" in history[1]


def test_lstm_generate_needs_nothing_but_the_registered_model(registry, tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "MLFLOW_TRACKING_URI": registry["uri"], "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "lstm", "generate", "--model", "models:/tiny-lstm@champion",
                           "--out", str(tmp_path / "piece.mid"), "--length", "20", "--seed", "1", "--audio", "none"],
                          capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(midi_tokens(tmp_path / "piece.mid")) == 20
