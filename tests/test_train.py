"""Training on the embedded data: it learns, it is deterministic on CPU, it resumes, and evaluates."""

from __future__ import annotations

import json
import math
import re
import shutil
from collections import Counter, defaultdict
from dataclasses import asdict, replace

import numpy as np
import pytest
import torch

from lstm.baselines import BASELINES, data_baselines, fit, positions
from lstm.bench.compare import evenly
from lstm.checkpoint import load_model
from lstm.data.targets import CONTEXT
from lstm.data.windows import load_split, load_vocab
from lstm.evaluate import TRAIN_EVAL_TARGETS, evaluate_split
from lstm.models import EmbedLSTM, NextToken, build_model
from lstm.train import TrainConfig, epoch_windows, train

# Small enough for seconds on two CPU cores: 4 batches an epoch.
TINY = TrainConfig(model="embed", hidden_sizes=[16], embed_dim=8, batch_size=32, epochs=2, seq_len=16,
                   windows_per_epoch=128, eval_windows=64, seed=3)




class Stop(Exception):
    pass


def without_timing(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in h.items() if k != "epoch_seconds"} for h in history]


def final_metrics(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k not in ("history", "phase_seconds")}  # timings differ run to run


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def saved_state(run) -> dict:
    return torch.load(run / "model.pt", weights_only=True)["state_dict"]


@pytest.fixture(scope="module")
def straight(prepared, tmp_path_factory):
    """TINY trained for two epochs without a break."""
    run = tmp_path_factory.mktemp("straight")
    return run, train(prepared, run, TINY, device="cpu")


# --- the tiny embedded run --------------------------------------------------------------------------------


def test_tiny_run_lowers_the_loss(tiny_run):
    history = json.loads((tiny_run / "metrics.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2]
    assert all(math.isfinite(h["train_loss"]) and h["train_loss"] > 0 for h in history)
    assert history[-1]["train_loss"] < history[0]["train_loss"]


def test_tiny_run_beats_the_most_frequent_token_on_train(tiny_run, prepared):
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    tokens, offsets = np.load(prepared / "train_tokens.npy"), np.load(prepared / "train_offsets.npy")
    targets = tokens[positions(offsets) >= CONTEXT]
    # every train target was scored, or an evenly spaced TRAIN_EVAL_TARGETS of them
    assert metrics["train_accuracy_targets"] == min(len(targets), TRAIN_EVAL_TARGETS)
    most_frequent = fit(tokens, offsets).fallback
    assert most_frequent == np.bincount(tokens).argmax()
    baseline = float((targets == most_frequent).mean())
    assert 0 < baseline < metrics["train_accuracy"]
    assert metrics["test_accuracy"] > metrics["baselines"]["most_frequent"]


def test_metrics_json(tiny_run, prepared):
    m = json.loads((tiny_run / "metrics.json").read_text())
    for key in ("train_accuracy", "val_accuracy", "test_accuracy", "test_top5_accuracy"):
        assert 0 <= m[key] <= 1, key
    assert m["test_top5_accuracy"] >= m["test_accuracy"]
    for key in ("val_loss", "test_loss", "test_perplexity"):
        assert math.isfinite(m[key]) and m[key] > 0, key
    assert m["test_perplexity"] == pytest.approx(math.exp(m["test_loss"]))
    assert m["best_epoch"] == best_of(m["history"])
    assert m["val_loss"] == pytest.approx(m["history"][m["best_epoch"] - 1]["val_loss"])
    assert set(m["baselines"]) == {"most_frequent", "bigram", "trigram"}
    assert all(0 <= v <= 1 for v in m["baselines"].values())
    assert m["baselines"]["trigram"] >= m["baselines"]["most_frequent"]
    manifest = json.loads((prepared / "manifest.json").read_text())
    assert m["vocab_size"] == manifest["vocab_size"] and m["data_hash"] == manifest["input_hash"]
    assert m["test_targets"] == manifest["splits"]["test"]["targets"] and m["seq_len"] == 32
    assert m["val_targets"] == manifest["splits"]["validation"]["targets"]
    assert set(m["phase_seconds"]) == {"data_load", "training", "evaluation"}
    assert all(v > 0 for v in m["phase_seconds"].values())

    e = m["error_analysis"]
    assert e["targets"] == m["test_targets"]
    assert sum(e["predicted"]) == sum(e["true"]) == e["targets"]
    assert e["predicted_share_G"] == pytest.approx(e["predicted"][e["classes"].index("G")] / e["targets"])
    assert e["predicted_share_D"] == pytest.approx(e["predicted"][e["classes"].index("D")] / e["targets"])
    assert 0 <= e["predicted_share_G"] + e["predicted_share_D"] <= 1


def test_histogram_files(tiny_run):
    hist = json.loads((tiny_run / "gd_histogram.json").read_text())
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert hist == metrics["error_analysis"]
    assert hist["classes"][-2:] == ["chord", "unknown"] and len(hist["classes"]) == 14
    html_path = tiny_run / "gd_histogram.html"
    html = html_path.read_text(encoding="utf-8")
    assert html_path.stat().st_size > 1_000_000  # plotly.js is inside the file
    assert "plotly.js v" in html
    assert re.search(r"<script[^>]*\bsrc=", html) is None  # nothing is fetched from a CDN


def test_tiny_run_checkpoint_and_model_load_with_weights_only(tiny_run, prepared):
    ckpt = torch.load(tiny_run / "checkpoint.pt", weights_only=True)
    assert ckpt["epoch"] == 2 and len(ckpt["history"]) == 2
    model, saved = load_model(tiny_run)
    assert isinstance(model, EmbedLSTM) and not model.training
    assert saved["vocab"] == load_vocab(prepared)
    assert saved["config"]["seq_len"] == 32
    assert_same_weights(model.state_dict(), ckpt["best"]["model"])

    # The loaded model reproduces the reported validation accuracy...
    val = evaluate_split(model, load_split(prepared, "validation", 32))
    reported = json.loads((tiny_run / "metrics.json").read_text())["val_accuracy"]
    assert val["accuracy"] == pytest.approx(reported, abs=1.5 / val["targets"])  # one near-tie may flip
    # ...and predicts after sequences of other lengths than the 32 it was trained on.
    tokens = torch.from_numpy(np.load(prepared / "validation_tokens.npy")).long()
    for length in (7, 150):
        ids = torch.stack([tokens[:length], tokens[100:100 + length]])
        with torch.inference_mode():
            logits = NextToken(model)(ids)
        assert logits.shape == (2, len(saved["vocab"])) and torch.isfinite(logits).all()


# --- determinism and resume -------------------------------------------------------------------------------


def test_training_changes_the_weights(straight, prepared):
    run, _ = straight
    torch.manual_seed(TINY.seed)
    initial = build_model(asdict(TINY), len(load_vocab(prepared))).state_dict()
    trained = saved_state(run)
    assert all(torch.equal(initial[k], trained[k]) is False for k in initial)


def test_same_seed_same_result(straight, prepared, tmp_path):
    run, metrics = straight
    again = train(prepared, tmp_path, TINY, device="cpu")
    assert_same_weights(saved_state(run), saved_state(tmp_path))
    assert final_metrics(again) == final_metrics(metrics)
    assert without_timing(again["history"]) == without_timing(metrics["history"])


def test_resume_after_a_stopped_run_equals_an_unbroken_run(straight, prepared, tmp_path):
    run, metrics = straight

    def stop_after_first(m):
        if m["epoch"] == 1:
            raise Stop

    with pytest.raises(Stop):
        train(prepared, tmp_path, TINY, device="cpu", on_epoch=stop_after_first)
    assert not (tmp_path / "model.pt").exists()
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["epoch"] == 1

    seen = []
    resumed = train(prepared, tmp_path, TINY, device="cpu", on_epoch=seen.append, resume=True)
    assert [m["epoch"] for m in seen] == [2]  # epoch 1 is not trained again
    assert_same_weights(saved_state(tmp_path), saved_state(run))
    ckpt, ref = (torch.load(r / "checkpoint.pt", weights_only=True) for r in (tmp_path, run))
    assert ckpt["epoch"] == ref["epoch"] == 2
    assert_same_weights(ckpt["model"], ref["model"])
    assert ckpt["optimizer"]["state"][0]["step"] == ref["optimizer"]["state"][0]["step"]
    assert final_metrics(resumed) == final_metrics(metrics)
    assert without_timing(resumed["history"]) == without_timing(metrics["history"])


def test_on_kept_gets_the_kept_model_before_it_is_evaluated(straight, prepared, tmp_path):
    run, metrics = straight
    handed = []

    def on_kept(path):  # what a trial does here: sample music from the model while it is evaluated
        assert not (tmp_path / "metrics.json").exists()
        handed.append(torch.load(path, weights_only=True)["state_dict"])

    again = train(prepared, tmp_path, TINY, device="cpu", on_kept=on_kept)
    assert len(handed) == 1
    assert_same_weights(handed[0], saved_state(run))
    assert final_metrics(again) == final_metrics(metrics)


def test_resume_of_a_finished_run_trains_nothing_more(straight, prepared, tmp_path):
    run, metrics = straight
    import shutil

    shutil.copytree(run, tmp_path, dirs_exist_ok=True)
    seen = []
    again = train(prepared, tmp_path, TINY, device="cpu", on_epoch=seen.append, resume=True)
    assert seen == []
    assert_same_weights(saved_state(tmp_path), saved_state(run))
    assert without_timing(again["history"]) == without_timing(metrics["history"])


def test_other_seed_other_weights(straight, prepared, tmp_path):
    run, _ = straight
    train(prepared, tmp_path, replace(TINY, seed=4, epochs=1), device="cpu")
    other = saved_state(tmp_path)
    assert not torch.equal(other["embed.weight"], saved_state(run)["embed.weight"])


# --- an epoch, and what it is validated on ------------------------------------------------------------------


def test_an_epoch_is_one_pass_over_the_training_tokens(prepared):
    split = load_split(prepared, "train", 16)
    assert epoch_windows(split, all_positions=True) == math.ceil(len(split.tokens) / 16) < len(split)
    assert epoch_windows(split, all_positions=False) == len(split)  # the seed's model learns one target a window
    assert epoch_windows(split, True, asked=100) == 100
    assert epoch_windows(split, True, asked=10**9) == len(split)


def test_every_epoch_validates_on_the_same_subset_and_the_final_figures_on_all(prepared, tmp_path):
    cfg = replace(TINY, epochs=3, patience=0, windows_per_epoch=0, eval_windows=200)
    m = train(prepared, tmp_path, cfg, device="cpu")
    val = load_split(prepared, "validation", cfg.seq_len)
    assert m["epoch_windows"] == epoch_windows(load_split(prepared, "train", cfg.seq_len), True)
    assert [h["val_targets"] for h in m["history"]] == [200] * 3
    assert m["val_targets"] == len(val.scored()) > 200
    # The subset names the same tokens at any seq_len, so every trial of a data set is validated on it too.
    assert torch.equal(evenly(load_split(prepared, "validation", 40), 200), evenly(val, 200))
    # The kept and the last epoch's weights, scored again on the subset, give back those epochs' figures.
    model = build_model(cfg.model_config, len(load_vocab(prepared)))
    last = torch.load(tmp_path / "checkpoint.pt", weights_only=True)["model"]
    for state, epoch in ((saved_state(tmp_path), m["best_epoch"]), (last, 3)):
        model.load_state_dict(state)
        again = evaluate_split(model, val, cfg.batch_size * 4, max_targets=200)
        assert again["accuracy"] == m["history"][epoch - 1]["val_accuracy"]
        assert again["loss"] == pytest.approx(m["history"][epoch - 1]["val_loss"], rel=1e-5)


# --- bad configurations -----------------------------------------------------------------------------------


@pytest.mark.parametrize("field, value", [("batch_size", 0), ("epochs", 0), ("seq_len", 0), ("hidden_sizes", []),
                                          ("hidden_sizes", [16, 0]), ("model", "gru"), ("optimizer", "adam")])
def test_bad_config_is_refused(field, value):
    with pytest.raises(ValueError):
        replace(TINY, **{field: value})


def test_seq_len_longer_than_every_file(prepared, tmp_path):
    with pytest.raises(ValueError, match="no training window"):
        train(prepared, tmp_path, replace(TINY, seq_len=100_000), device="cpu")


def test_validation_without_a_target_is_refused(prepared, tmp_path):
    """A validation split whose files all have 100 tokens or fewer: nothing to measure the epochs on."""
    data = tmp_path / "data"
    shutil.copytree(prepared, data)
    tokens = np.load(data / "validation_tokens.npy")
    np.save(data / "validation_tokens.npy", tokens[:CONTEXT])  # one real file, cut to CONTEXT tokens
    np.save(data / "validation_offsets.npy", np.array([0, CONTEXT]))
    with pytest.raises(ValueError, match="no validation target: no validation file has more than 100 tokens"):
        train(data, tmp_path / "run", TINY, device="cpu")


def test_checkpoint_writer_saves_a_snapshot_in_the_background(tmp_path):
    from lstm.checkpoint import CheckpointWriter

    weights = torch.zeros(1000)
    history = [{"epoch": 1}]
    with CheckpointWriter() as writer:
        writer.save({"model": {"w": weights}, "history": history, "epoch": 1}, tmp_path / "c.pt")
        weights += 1  # training goes on while the write happens: the file must not see it
        history.append({"epoch": 2})
    saved = torch.load(tmp_path / "c.pt", weights_only=True)
    assert saved["epoch"] == 1 and saved["history"] == [{"epoch": 1}]
    assert torch.equal(saved["model"]["w"], torch.zeros(1000))
    assert not list(tmp_path.glob("*.tmp*"))


def test_checkpoint_writer_reports_a_failed_write(tmp_path):
    from lstm.checkpoint import CheckpointWriter

    writer = CheckpointWriter()
    writer.save({"epoch": 1}, tmp_path / "missing-dir" / "c.pt")
    with pytest.raises(RuntimeError, match="missing-dir does not exist"):  # torch.save's own error
        writer.wait()
    writer.wait()  # reported once


# --- the kept model is the best epoch's; early stopping -------------------------------------------------

# The rules are checked on a validation trajectory the test sets, not on one this machine's kernels happen to
# produce (another processor's float results peak elsewhere: AVX2 and AVX-512 kernels already differ).
PEAKED = replace(TINY, epochs=4, lr=0.3, windows_per_epoch=512, eval_windows=0, dropout=0.0, seed=0, patience=0)
TRAJECTORY = [0.10, 0.30, 0.20, 0.25]  # validation accuracy by epoch: the best is epoch 2, then none beats it
BEST = 2


class ScriptedValidation:
    """Each epoch's validation accuracy is TRAJECTORY's, whatever the model scored; its loss stays the real one.

    Wraps lstm.train's own train_epoch (to know the epoch) and evaluate_split (to replace the accuracy); the
    final evaluation of the kept model (lstm.evaluate) is left real, and `real` keeps what each epoch scored."""

    def __init__(self, monkeypatch):
        import lstm.train

        self.epoch, self.real = 0, {}
        train_epoch, evaluate_split = lstm.train.train_epoch, lstm.train.evaluate_split

        def scripted_train_epoch(*args, **kwargs):
            self.epoch = args[5]
            return train_epoch(*args, **kwargs)

        def scripted_evaluate_split(*args, **kwargs):
            self.real[self.epoch] = scored = evaluate_split(*args, **kwargs)
            return {**scored, "accuracy": TRAJECTORY[self.epoch - 1]}

        monkeypatch.setattr(lstm.train, "train_epoch", scripted_train_epoch)
        monkeypatch.setattr(lstm.train, "evaluate_split", scripted_evaluate_split)


def best_of(history: list[dict]) -> int:
    return max(history, key=lambda h: (h["val_accuracy"], -h["val_loss"], -h["epoch"]))["epoch"]


@pytest.fixture(scope="module")
def peaked(prepared, tmp_path_factory):
    run = tmp_path_factory.mktemp("peaked")
    with pytest.MonkeyPatch.context() as mp:
        script = ScriptedValidation(mp)
        return run, train(prepared, run, PEAKED, device="cpu"), script.real


@pytest.fixture
def scripted(monkeypatch):
    return ScriptedValidation(monkeypatch)


def test_the_kept_model_is_the_best_epoch(peaked, prepared):
    run, m, real = peaked
    history = m["history"]
    assert [h["val_accuracy"] for h in history] == TRAJECTORY
    assert len(history) == PEAKED.epochs and not m["stopped_early"]
    assert m["best_epoch"] == best_of(history) == BEST
    assert [h["best_epoch"] for h in history] == [best_of(history[:i + 1]) for i in range(len(history))]
    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)
    assert ckpt["best"]["epoch"] == BEST and ckpt["epoch"] == PEAKED.epochs
    assert_same_weights(saved_state(run), ckpt["best"]["model"])  # model.pt: the best epoch, not the last
    assert not torch.equal(saved_state(run)["embed.weight"], ckpt["model"]["embed.weight"])
    # every figure of metrics.json is the kept model's: validation as that model scored at the best epoch
    assert m["val_accuracy"] == pytest.approx(real[BEST]["accuracy"], abs=1.5 / real[BEST]["targets"])
    assert m["val_loss"] == pytest.approx(history[BEST - 1]["val_loss"])
    model, _ = load_model(run)
    test = evaluate_split(model, load_split(prepared, "test", PEAKED.seq_len))
    assert m["test_accuracy"] == pytest.approx(test["accuracy"], abs=1.5 / test["targets"])


def test_the_kept_epoch_is_the_best_of_the_real_trajectory(prepared, tmp_path):
    """Unscripted: whatever this machine's validation did, the kept epoch is the best of the run's own history."""
    m = train(prepared, tmp_path, replace(PEAKED, epochs=3), device="cpu")
    history = m["history"]
    assert m["best_epoch"] == best_of(history)
    assert [h["best_epoch"] for h in history] == [best_of(history[:i + 1]) for i in range(len(history))]
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert ckpt["best"]["epoch"] == m["best_epoch"]
    assert_same_weights(saved_state(tmp_path), ckpt["best"]["model"])


def test_training_stops_after_patience_epochs_without_a_better_one(peaked, scripted, prepared, tmp_path):
    _, full, _ = peaked
    m = train(prepared, tmp_path, replace(PEAKED, patience=1), device="cpu")
    # the same trajectory as the run without patience, cut one epoch after the best
    assert [h["epoch"] for h in m["history"]] == list(range(1, BEST + 2))
    assert without_timing(m["history"]) == without_timing(full["history"][:BEST + 1])
    assert m["stopped_early"] and m["best_epoch"] == BEST and m["epochs_trained"] == BEST + 1
    assert m["val_accuracy"] == full["val_accuracy"] and m["test_accuracy"] == full["test_accuracy"]
    # a resumed run that had stopped early trains no more
    seen = []
    again = train(prepared, tmp_path, replace(PEAKED, patience=1), device="cpu", on_epoch=seen.append, resume=True)
    assert seen == [] and again["best_epoch"] == BEST


def test_resume_after_the_peak_keeps_the_best_state(peaked, scripted, prepared, tmp_path):
    run, full, _ = peaked

    def stop_after_peak(m):
        if m["epoch"] == BEST + 1:
            raise Stop

    with pytest.raises(Stop):
        train(prepared, tmp_path, PEAKED, device="cpu", on_epoch=stop_after_peak)
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert ckpt["epoch"] == BEST + 1 and ckpt["best"]["epoch"] == BEST

    resumed = train(prepared, tmp_path, PEAKED, device="cpu", resume=True)
    assert resumed["best_epoch"] == BEST
    assert_same_weights(saved_state(tmp_path), saved_state(run))
    assert final_metrics(resumed) == final_metrics(full)


def test_negative_patience_is_refused():
    with pytest.raises(ValueError, match="patience"):
        replace(TINY, patience=-1)


# --- baselines: computed once at preparation, read by every evaluation -----------------------------------


def arrays(prepared, split):
    return np.load(prepared / f"{split}_tokens.npy"), np.load(prepared / f"{split}_offsets.npy")


def test_baselines_read_from_the_manifest_equal_recomputed_ones(tiny_run, prepared):
    manifest = json.loads((prepared / "manifest.json").read_text())
    stored = manifest["baselines"]
    assert stored["context"] == CONTEXT
    for split in ("validation", "test"):
        assert stored[split] == reference_baselines(prepared, split)
        assert stored[split]["bigram"] > stored[split]["most_frequent"] > 0
    m = json.loads((tiny_run / "metrics.json").read_text())
    assert m["baselines"] == stored["test"] and m["val_baselines"] == stored["validation"]


class PlainNGram:
    """The baselines written the plain way, as reference: Python counters per context, within files."""

    def __init__(self, order: int, tokens, offsets):
        self.order = order
        counts = defaultdict(Counter)
        for a, b in zip(offsets[:-1], offsets[1:]):
            seq = tokens[a:b].tolist()
            for i, tok in enumerate(seq):
                for n in range(0, min(order - 1, i) + 1):
                    counts[tuple(seq[i - n:i])][tok] += 1
        self.best = {ctx: c.most_common(1)[0][0] for ctx, c in counts.items()}  # a tie: the one counted first

    def predict(self, context: list[int]) -> int:
        for n in range(min(self.order - 1, len(context)), -1, -1):
            hit = self.best.get(tuple(context[len(context) - n:]))
            if hit is not None:
                return hit
        return 0


def reference_baselines(prepared, split):
    """The baselines scored the plain way: fitted on train, every target (position >= CONTEXT) predicted in turn."""
    models = {name: PlainNGram(order, *arrays(prepared, "train")) for order, name in enumerate(BASELINES, 1)}
    tokens, offsets = arrays(prepared, split)
    right, n = dict.fromkeys(models, 0), 0
    for a, b in zip(offsets[:-1], offsets[1:]):
        seq = tokens[a:b].tolist()
        for i in range(CONTEXT, len(seq)):
            n += 1
            for name, model in models.items():
                right[name] += model.predict(seq[i - 2:i]) == seq[i]
    return {name: right[name] / n for name in models}


def test_the_baselines_predict_as_the_plain_way_does(prepared):
    train, (tokens, offsets) = arrays(prepared, "train"), arrays(prepared, "test")
    plain = [PlainNGram(order, *train) for order in (1, 2, 3)]
    expected = [[m.predict(tokens[a:a + i].tolist()[-2:]) for m in plain]
                for a, b in zip(offsets[:-1], offsets[1:]) for i in range(b - a)]
    assert fit(*train).predictions(tokens, offsets).tolist() == expected
    # ties go to the token that followed the context first; unseen contexts back off
    t = np.array([5, 1, 5, 2, 5, 2, 5, 1, 3, 3, 4, 4])
    predicted = fit(t, np.array([0, 8, 12])).predictions(np.array([5, 3, 4, 9, 5]), np.array([0, 5]))
    assert predicted.tolist() == [[5, 5, 5], [5, 1, 1], [5, 3, 3], [5, 4, 4], [5, 5, 5]]  # 9: never in train


def test_a_run_of_another_seq_len_has_the_same_baselines_read_from_the_kept_hits(straight, prepared, monkeypatch):
    _, m = straight  # TINY: seq_len 16, the data was prepared for 32: the same targets, the same figures
    assert m["seq_len"] == 16
    stored = json.loads((prepared / "manifest.json").read_text())["baselines"]
    assert m["baselines"] == stored["test"] == reference_baselines(prepared, "test")
    assert m["val_baselines"] == stored["validation"]
    # A manifest without them (prepared before the common targets): the hits prepare kept answer alone.
    monkeypatch.setattr("lstm.baselines.fit", lambda *a: pytest.fail("baselines fitted again"))
    assert data_baselines(prepared, None)["test"] == stored["test"]
