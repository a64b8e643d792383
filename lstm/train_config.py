"""What a training run is told (`TrainConfig`), without torch: a sweep checks its search space by building
these before anything runs, in a process that must not import the training stack (tests/test_layout.py).
lstm.train re-exports it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .model_config import EMBED_DIM, EMBED_DROPOUT, EMBED_HIDDEN_SIZE, ModelConfig

# What each epoch's validation (the pruner's figure, the kept epoch's choice) scores: this many evenly spaced
# validation targets, the same ones every epoch and in every trial of a data set (they do not depend on
# seq_len). The kept model's final validation and test figures use every target. At 10,000 an accuracy
# near 10 % has a standard error of 0.3 points, and two epochs on the same targets differ by less noise
# than that; a full MAESTRO validation split has ~1 M targets, which a CPU cannot score every epoch.
EPOCH_EVAL_TARGETS = 10_000


@dataclass
class TrainConfig:
    # The model's part, flat so that config.json stays one level: ModelConfig's fields (`model` is its kind),
    # validated by ModelConfig. Build it from the user's options with lstm.models.model_config.
    model: str = "embed"
    hidden_sizes: list[int] = field(default_factory=lambda: [EMBED_HIDDEN_SIZE])
    embed_dim: int = EMBED_DIM
    dropout: float = EMBED_DROPOUT
    batch_size: int = 64
    epochs: int = 20  # an upper bound: patience stops a run whose validation accuracy has peaked
    lr: float = 5e-3
    optimizer: str = "adamw"
    weight_decay: float = 0.01
    seq_len: int = 100
    windows_per_epoch: int = 0  # 0: one pass over the training tokens (lstm.train.epoch_windows)
    eval_windows: int = EPOCH_EVAL_TARGETS  # validation targets scored after each epoch, evenly spaced; 0: all
    patience: int = 3  # stop after this many epochs without a better validation accuracy; 0: never
    seed: int = 0

    def __post_init__(self):
        _ = self.model_config  # ModelConfig validates the model's part
        if self.optimizer not in ("sgd", "adamw"):
            raise ValueError(f"optimizer must be sgd or adamw, not {self.optimizer!r}")
        for name in ("batch_size", "epochs", "seq_len"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        # A negative count once sliced windows off the end: refused.
        for name, zero in (("windows_per_epoch", "one pass over the training tokens"), ("eval_windows", "all")):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 ({zero}) or more")
        if self.patience < 0:
            raise ValueError("patience must be 0 (never stop early) or more")
        if not 0 < self.lr < math.inf:
            raise ValueError(f"lr must be positive, not {self.lr}")

    @property
    def model_config(self) -> ModelConfig:
        return ModelConfig(self.model, list(self.hidden_sizes), self.embed_dim, self.dropout)
