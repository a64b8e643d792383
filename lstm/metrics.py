"""What a run reports, named once: an epoch's figures (`EpochMetrics`, what `on_epoch` gets and the history
holds) and a finished run's (`RunMetrics`, what `train` returns and metrics.json holds).

TypedDicts rather than dataclasses: they are written to and read from JSON as they are, and every reader
(the CLI, a trial's MLflow logging, the tests) sees the same keys, checked by a type checker.
"""

from __future__ import annotations

from typing import TypedDict


class EpochMetrics(TypedDict):
    epoch: int
    train_loss: float
    val_loss: float
    val_accuracy: float  # on eval_windows evenly spaced validation targets (the same every epoch), or all
    val_targets: int  # how many that was
    epoch_seconds: float
    best_epoch: int  # the kept epoch so far


class Evaluation(TypedDict):
    """The kept model scored on every split (lstm.evaluate.evaluate_run), on the yardstick's targets
    (lstm/data/targets.py): the same ones for every seq_len."""
    train_accuracy: float  # on TRAIN_EVAL_TARGETS evenly spaced train targets, or all of them
    train_accuracy_targets: int
    val_accuracy: float
    val_loss: float
    val_targets: int
    test_accuracy: float
    test_top5_accuracy: float
    test_loss: float
    test_perplexity: float
    test_targets: int
    seq_len: int
    vocab_size: int
    data_hash: str
    baselines: dict[str, float]  # most_frequent, bigram, trigram on the test targets
    val_baselines: dict[str, float]
    error_analysis: dict  # the G/D pitch-class histograms (lstm.pitch_classes)


class RunMetrics(Evaluation):
    """A finished training run: its evaluation, the kept epoch, the history and where the time went."""
    best_epoch: int
    epochs_trained: int
    epoch_windows: int  # windows an epoch drew (lstm.train.epoch_windows)
    stopped_early: bool
    history: list[EpochMetrics]
    phase_seconds: dict[str, float]  # data_load, training, evaluation
