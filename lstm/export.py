"""A copy of a trained model that `torch.export` can save for any batch size and sequence length.

`nn.LSTM` is unrolled by `torch.export`, which fixes the sequence length to the example's. Here each
LSTM is swapped for the same recurrence written with the `scan` higher-order op (same weights, same
math), which exports with a dynamic length. The result is a pickle-free `.pt2` program.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch._higher_order_ops.scan import scan


class ScanLSTM(nn.Module):
    """Drop-in for a batch_first, unidirectional `nn.LSTM`: returns (outputs, (h_n, c_n))."""

    def __init__(self, lstm: nn.LSTM):
        super().__init__()
        if lstm.bidirectional or not lstm.batch_first or lstm.proj_size:
            raise ValueError("only batch_first, unidirectional LSTMs without projection are supported")
        self.lstm = lstm

    def forward(self, x: torch.Tensor):
        seq = x.transpose(0, 1)  # (L, B, I)
        hs, cs = [], []
        for layer in range(self.lstm.num_layers):
            w_ih = getattr(self.lstm, f"weight_ih_l{layer}")
            w_hh = getattr(self.lstm, f"weight_hh_l{layer}")
            bias = getattr(self.lstm, f"bias_ih_l{layer}") + getattr(self.lstm, f"bias_hh_l{layer}")
            gates_x = seq @ w_ih.T + bias  # the input half of every step at once

            def step(carry, gx, w_hh=w_hh):
                h, c = carry
                i, f, g, o = (gx + h @ w_hh.T).chunk(4, dim=-1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
                return (h, c), h.clone()

            zeros = x.new_zeros(x.shape[0], w_hh.shape[1])
            (h, c), seq = scan(step, (zeros, zeros.clone()), gates_x)
            hs.append(h)
            cs.append(c)
        return seq.transpose(0, 1), (torch.stack(hs), torch.stack(cs))


def exportable(model: nn.Module) -> nn.Module:
    """A deep copy of `model` in eval mode with every nn.LSTM replaced by a ScanLSTM."""
    model = copy.deepcopy(model).cpu().eval()
    for child in list(model.modules()):
        for attr, sub in list(child.named_children()):
            if isinstance(sub, nn.LSTM):
                setattr(child, attr, ScanLSTM(sub))
    return model
