"""The two model families: the seed's, reproduced faithfully, and an embedding LSTM that learns.

Both take token ids of shape (B, L) for any L and give logits; `next_logits` is the prediction for
the token after the last one, which is what generation and the accuracy metric use.

Which network to build is `ModelConfig` (lstm/model_config.py).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from .model_config import EMBED_DIM, EMBED_DROPOUT, ModelConfig
from .seed import SEED


class SeedLSTM(nn.Module):
    """The seed's network: one float per step (id / vocabulary size), three LSTMs of 512, the last
    hidden state through two one-channel BatchNorms without weights, Linear 256, ReLU, Linear.
    Trained on the last step only."""

    all_positions = False

    def __init__(self, vocab_size: int, hidden_size: int = SEED.hidden_size, dense_size: int = SEED.dense_size,
                 dropout: float = SEED.dropout):
        super().__init__()
        self.vocab_size = vocab_size
        self.lstm1 = nn.LSTM(1, hidden_size, batch_first=True)
        self.lstm2 = nn.LSTM(hidden_size, hidden_size, batch_first=True)
        self.lstm3 = nn.LSTM(hidden_size, hidden_size, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.norm1 = nn.BatchNorm1d(1, affine=False)
        self.dense = nn.Linear(hidden_size, dense_size)
        self.norm2 = nn.BatchNorm1d(1, affine=False)
        self.out = nn.Linear(dense_size, vocab_size)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = (ids.float() / self.vocab_size).unsqueeze(-1)
        x, _ = self.lstm1(x)
        x, _ = self.lstm2(self.drop(x))
        _, (h, _) = self.lstm3(self.drop(x))
        x = self.drop(self.norm1(h.transpose(0, 1)))  # (B, 1, H): one BatchNorm channel
        x = self.drop(self.norm2(torch.relu(self.dense(x))))
        return self.out(x).squeeze(1)  # (B, V)

    def next_logits(self, ids: torch.Tensor) -> torch.Tensor:
        return self(ids)


class EmbedLSTM(nn.Module):
    """Token embedding → LSTM layers → Linear, trained on every position of the window."""

    all_positions = True

    def __init__(self, vocab_size: int, hidden_sizes: list[int], embed_dim: int = EMBED_DIM,
                 dropout: float = EMBED_DROPOUT):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim)
        self.drop = nn.Dropout(dropout)
        if len(set(hidden_sizes)) == 1:  # one fused multi-layer LSTM: one cuDNN call
            self.lstms = nn.ModuleList([nn.LSTM(embed_dim, hidden_sizes[0], num_layers=len(hidden_sizes),
                                                dropout=dropout if len(hidden_sizes) > 1 else 0.0,
                                                batch_first=True)])
        else:
            sizes = [embed_dim, *hidden_sizes]
            self.lstms = nn.ModuleList([nn.LSTM(a, b, batch_first=True) for a, b in zip(sizes, sizes[1:])])
        self.out = nn.Linear(hidden_sizes[-1], vocab_size)

    def hidden(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.drop(self.embed(ids))
        for lstm in self.lstms:
            x, _ = lstm(x)
            x = self.drop(x)
        return x  # (B, L, H)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.out(self.hidden(ids))  # (B, L, V)

    def next_logits(self, ids: torch.Tensor) -> torch.Tensor:
        # The output layer on the last position only: on every position it is most of an evaluation's work and
        # memory (B × L × V logits, 254 MB a batch of 512 at seq_len 32 and a MAESTRO-size vocabulary).
        return self.out(self.hidden(ids)[:, -1])


class NextToken(nn.Module):
    """(B, L) ids → (B, V) logits of the next token, whatever the model family: what MLflow serves."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.model.next_logits(ids)


def build_model(config: ModelConfig | Mapping, vocab_size: int) -> nn.Module:
    """The network of a ModelConfig, or of a run's flat config (config.json, model.pt's "config")."""
    cfg = config if isinstance(config, ModelConfig) else ModelConfig.from_dict(config)
    if cfg.kind == "seed":  # validated: SEED.num_layers layers of one size
        return SeedLSTM(vocab_size, cfg.hidden_sizes[0], dropout=cfg.dropout)
    return EmbedLSTM(vocab_size, list(cfg.hidden_sizes), cfg.embed_dim, cfg.dropout)
