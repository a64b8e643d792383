"""What a training run is told (`TrainConfig`), without torch: a sweep checks its search space by building
these before anything runs, in a process that must not import the training stack (tests/test_layout.py).
lstm.train re-exports it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .model_config import EMBED_DIM, EMBED_DROPOUT, EMBED_HIDDEN_SIZE, ModelConfig


@dataclass
class TrainConfig:
    # The model's part, flat so that config.json stays one level: ModelConfig's fields (`model` is its kind),
    # validated by ModelConfig. Build it from the user's options with lstm.models.model_config.
    model: str = "embed"
    hidden_sizes: list[int] = field(default_factory=lambda: [EMBED_HIDDEN_SIZE])
    embed_dim: int = EMBED_DIM
    dropout: float = EMBED_DROPOUT
    batch_size: int = 64
    epochs: int = 10  # an upper bound: patience stops a run whose validation accuracy has peaked
    lr: float = 2e-3
    optimizer: str = "adamw"
    weight_decay: float = 0.01
    seq_len: int = 100
    windows_per_epoch: int = 0  # 0: every window once an epoch (the seed capped the total at 350,000)
    eval_windows: int = 0  # validation targets scored after each epoch, evenly spaced; 0: all
    patience: int = 3  # stop after this many epochs without a better validation accuracy; 0: never
    seed: int = 0

    def __post_init__(self):
        _ = self.model_config  # ModelConfig validates the model's part
        if self.optimizer not in ("sgd", "adamw"):
            raise ValueError(f"optimizer must be sgd or adamw, not {self.optimizer!r}")
        for name in ("batch_size", "epochs", "seq_len"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in ("windows_per_epoch", "eval_windows"):  # 0 means all; a negative count used to slice
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 (all) or more")
        if self.patience < 0:
            raise ValueError("patience must be 0 (never stop early) or more")
        if not 0 < self.lr < math.inf:
            raise ValueError(f"lr must be positive, not {self.lr}")

    @property
    def model_config(self) -> ModelConfig:
        return ModelConfig(self.model, list(self.hidden_sizes), self.embed_dim, self.dropout)
