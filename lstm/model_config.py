"""Which network to build, without torch: `ModelConfig`, and `model_config`, the one translation of the
user's options (the CLI's flags, a study's parameters, the bench's sizes) into it, defaults included.

Apart from lstm/models.py so that a sweep can validate a search space without importing torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .seed import SEED

MODELS = ("seed", "embed")
EMBED_HIDDEN_SIZE, EMBED_DIM, EMBED_DROPOUT = 256, 128, 0.2  # the embed model's defaults: one layer of 256


@dataclass
class ModelConfig:
    """Which network: its family (`kind`), one hidden size per LSTM layer, the embedding width (embed
    only) and dropout. The seed's network has SEED.num_layers LSTM layers of one size."""

    kind: str = "embed"
    hidden_sizes: list[int] = field(default_factory=lambda: [EMBED_HIDDEN_SIZE])
    embed_dim: int = EMBED_DIM
    dropout: float = EMBED_DROPOUT

    def __post_init__(self):
        if self.kind not in MODELS:
            raise ValueError(f"unknown model {self.kind!r}: choose seed or embed")
        if not self.hidden_sizes or min(self.hidden_sizes) < 1:
            raise ValueError(f"hidden sizes must be positive, at least one layer: got {list(self.hidden_sizes)}")
        if self.kind == "seed" and (len(self.hidden_sizes) != SEED.num_layers or len(set(self.hidden_sizes)) > 1):
            raise ValueError(f"the seed model has {SEED.num_layers} LSTM layers of one size: give one hidden "
                             f"size, not {list(self.hidden_sizes)}")
        if self.embed_dim < 1:
            raise ValueError("embed_dim must be at least 1")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), not {self.dropout}")

    def to_dict(self) -> dict:
        """Its keys in a run's flat config (TrainConfig's fields; config.json, model.pt): `model` is the kind."""
        return {"model": self.kind, "hidden_sizes": list(self.hidden_sizes), "embed_dim": self.embed_dim,
                "dropout": self.dropout}

    @classmethod
    def from_dict(cls, config: Mapping) -> ModelConfig:
        """From a run's flat config; its other keys (batch_size, seq_len, ...) are not the model's."""
        return model_config(config.get("model", "embed"), hidden_sizes=config.get("hidden_sizes"),
                            embed_dim=config.get("embed_dim"), dropout=config.get("dropout"))


def model_config(model: str = "embed", hidden_size: int | None = None, num_layers: int | None = None,
                 hidden_sizes: Sequence[int] | str | None = None, embed_dim: int | None = None,
                 dropout: float | None = None) -> ModelConfig:
    """The user's options → a validated ModelConfig; None means the family's default.

    `hidden_sizes` names each layer (a list, or "512,256" as a study's categorical choice); one size, or
    `hidden_size`, is repeated `num_layers` times. seed: SEED.num_layers × SEED.hidden_size, dropout
    SEED.dropout; embed: 1 × 256, embed_dim 128, dropout 0.2."""
    seed = model == "seed"
    if isinstance(hidden_sizes, str):
        hidden_sizes = [int(s) for s in hidden_sizes.split(",")]
    if hidden_sizes is not None and hidden_size is not None:
        raise ValueError(f"give hidden_size ({hidden_size}) or hidden_sizes ({list(hidden_sizes)}), not both")
    if hidden_sizes is not None and len(hidden_sizes) == 1:
        hidden_size, hidden_sizes = hidden_sizes[0], None
    if seed and num_layers is not None and num_layers != SEED.num_layers:
        raise ValueError(f"the seed model has {SEED.num_layers} LSTM layers, not {num_layers}")
    if hidden_sizes is None:
        layers = num_layers if num_layers is not None else SEED.num_layers if seed else 1
        size = hidden_size if hidden_size is not None else SEED.hidden_size if seed else EMBED_HIDDEN_SIZE
        hidden_sizes = [int(size)] * layers
    elif num_layers is not None and num_layers != len(hidden_sizes):
        raise ValueError(f"{len(hidden_sizes)} hidden sizes {list(hidden_sizes)} but {num_layers} layers")
    return ModelConfig(model, [int(s) for s in hidden_sizes], EMBED_DIM if embed_dim is None else embed_dim,
                       (SEED.dropout if seed else EMBED_DROPOUT) if dropout is None else dropout)
