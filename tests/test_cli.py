"""The `lstm` command: help, one-line errors with exit status 2, seed defaults, resume, evaluate."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lstm.cli import COMMANDS, build_parser, main

LSTM = [sys.executable, "-m", "lstm"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}  # tiny models: one thread beats two busy cores (tests/conftest.py)




def run_lstm(*args, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([*LSTM, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=ENV)


def test_help_of_every_command():
    commands = [[], *([name] for name in COMMANDS)]
    procs = [subprocess.Popen([*LSTM, *c, "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
             for c in commands]  # in parallel: each start imports torch
    for command, proc in zip(commands, procs):
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, (command, err)
        assert out.startswith(f"usage: lstm {' '.join(command)}".rstrip()), out
        assert "Traceback" not in err
    assert {"prepare", "train", "evaluate"} <= set(COMMANDS)


def test_every_option_says_its_default():
    """Each option of each command has help text that states its default (a required one has none)."""
    subcommands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert set(subcommands) == set(COMMANDS)
    for command, parser in subcommands.items():
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction) or action.required:
                continue
            where = f"lstm {command} {'/'.join(action.option_strings)}"
            assert action.help, where
            text = action.help % dict(vars(action), prog=parser.prog)  # as --help shows it
            assert "default" in text, where
            if action.default not in (None, False):
                d = action.default  # a list as it is typed: 0.8 0.1 0.1
                assert (" ".join(map(str, d)) if isinstance(d, list) else str(d)) in text, where


def test_installed_entry_point():
    exe = shutil.which("lstm", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("the lstm script is not installed next to this Python")
    proc = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "prepare" in proc.stdout


def test_bad_batch_size_exits_2_with_one_line(tmp_path):
    proc = run_lstm("train", "--data", tmp_path, "--out", tmp_path / "run", "--batch-size", "0")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == ["lstm train: error: batch_size must be at least 1"]
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("args, message", [
    (["--epochs", "0"], "epochs must be at least 1"),
    (["--seq-len", "0"], "seq_len must be at least 1"),
    (["--hidden-size", "0"], "hidden sizes must be positive"),
    (["--hidden-size", "8", "16", "--num-layers", "3"], "--hidden-size has 2 sizes but --num-layers is 3"),
    (["--num-layers", "-1"], "hidden sizes must be positive"),
    (["--embed-dim", "0"], "embed_dim must be at least 1"),
    (["--windows-per-epoch", "-1"], "windows_per_epoch must be 0 (one pass over the training tokens) or more"),
    (["--eval-windows", "-5"], "eval_windows must be 0 (all) or more"),
    (["--lr", "0"], "lr must be positive"),
    (["--lr", "-0.1"], "lr must be positive"),
    (["--dropout", "1.5"], "dropout must be in [0, 1)"),
])
def test_bad_train_values(args, message, prepared, tmp_path, capsys):
    # prepared data: the values must be refused even where training could start
    assert main(["train", "--data", str(prepared), "--out", str(tmp_path / "run"), "--device", "cpu", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("lstm train: error: ") and message in err, err
    assert not (tmp_path / "run" / "model.pt").exists()


def test_argparse_errors_exit_2(tmp_path):
    proc = run_lstm("train", "--data", tmp_path, "--out", tmp_path, "--model", "gru")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "invalid choice: 'gru'" in proc.stderr.strip().splitlines()[-1]
    with pytest.raises(SystemExit) as exc:
        main(["train", "--data", str(tmp_path), "--out", str(tmp_path), "--batch-size", "many"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2


def test_missing_data_or_model_is_one_line(tmp_path, capsys, prepared):
    assert main(["train", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "run"), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("lstm train: error: ") and "nowhere" in err
    assert main(["evaluate", "--model", str(tmp_path / "norun"), "--data", str(prepared), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("lstm evaluate: error: ") and "norun" in err


SEED_ARGS = ["--model", "seed", "--hidden-size", "8", "--seq-len", "16", "--batch-size", "32",
             "--windows-per-epoch", "64", "--eval-windows", "64", "--device", "cpu", "--seed", "5"]


@pytest.fixture(scope="module")
def seed_runs(prepared, tmp_path_factory):
    """Tiny seed-model runs through the CLI: one stopped after epoch 1 then resumed to 2, one straight to 2."""
    root = tmp_path_factory.mktemp("seed_runs")
    broken, straight = root / "broken", root / "straight"
    common = ["train", "--data", str(prepared), *SEED_ARGS]
    assert main([*common, "--out", str(broken), "--epochs", "1"]) == 0
    first = json.loads((broken / "metrics.json").read_text())
    assert main([*common, "--out", str(broken), "--epochs", "2", "--resume"]) == 0
    assert main([*common, "--out", str(straight), "--epochs", "2"]) == 0
    return first, broken, straight


def test_seed_model_defaults(seed_runs):
    first, broken, _ = seed_runs
    config = json.loads((broken / "config.json").read_text())
    assert config["model"] == "seed" and config["hidden_sizes"] == [8, 8, 8]
    assert (config["optimizer"], config["lr"], config["dropout"]) == ("sgd", 0.01, 0.3)
    assert [h["epoch"] for h in first["history"]] == [1]


def test_resume_equals_an_unbroken_run(seed_runs):
    first, broken, straight = seed_runs
    a, b = (torch.load(r / "model.pt", weights_only=True) for r in (broken, straight))
    assert a["config"] == b["config"]
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for k in a["state_dict"]:
        assert torch.equal(a["state_dict"][k], b["state_dict"][k]), k
    ma, mb = (json.loads((r / "metrics.json").read_text()) for r in (broken, straight))
    for key in ("train_accuracy", "val_accuracy", "test_accuracy", "test_loss"):
        assert ma[key] == mb[key], key
    assert [h["epoch"] for h in ma["history"]] == [1, 2]
    assert [h["train_loss"] for h in ma["history"]] == [h["train_loss"] for h in mb["history"]]
    assert ma["history"][0] == first["history"][0]  # epoch 1 came from the checkpoint, not trained again


def test_evaluate_recomputes_the_metrics(seed_runs, prepared, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(seed_runs[2], run)
    before = json.loads((run / "metrics.json").read_text())
    (run / "gd_histogram.html").unlink()
    (run / "gd_histogram.json").unlink()
    proc = run_lstm("evaluate", "--model", run, "--data", prepared, "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "accuracy  train" in proc.stdout and "baselines on test" in proc.stdout
    after = json.loads((run / "metrics.json").read_text())
    assert set(after) == set(before)
    for key in ("train_accuracy", "val_accuracy", "test_accuracy", "test_top5_accuracy", "train_accuracy_targets",
                "test_targets", "val_targets", "baselines", "data_hash", "vocab_size", "seq_len"):
        assert after[key] == before[key], key
    for key in ("val_loss", "test_loss", "test_perplexity"):
        assert after[key] == pytest.approx(before[key], rel=1e-5), key
    for key in ("history", "best_epoch", "epochs_trained", "stopped_early", "phase_seconds"):
        assert after[key] == before[key], key  # kept from the training run
    assert after["error_analysis"]["predicted"] == before["error_analysis"]["predicted"]
    assert json.loads((run / "gd_histogram.json").read_text()) == after["error_analysis"]
    assert (run / "gd_histogram.html").stat().st_size > 1_000_000
