"""Joint fusion of modality encodings."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .encoders.tabular import make_mlp


class ConcatFusion(nn.Module):
    """Concatenate modality encodings and pass them through an MLP.

    Parameters
    ----------
    in_dims : sequence of int
        Width of each modality's encoding, in the order they are given to ``forward``.
    hidden_layers : sequence of int
        Widths of the MLP after concatenation; empty means the concatenation itself.
    dropout : float
        Dropout after each hidden layer.

    Attributes
    ----------
    out_dim : int
    """

    def __init__(self, in_dims: Sequence[int], hidden_layers: Sequence[int] = (), dropout: float = 0.0):
        super().__init__()
        total = int(sum(in_dims))
        self.mlp = make_mlp(total, hidden_layers, dropout)
        self.out_dim = int(hidden_layers[-1]) if len(hidden_layers) else total

    def forward(self, encodings: Sequence[Tensor]) -> Tensor:
        """Fuse a list of (n, d_k) encodings into (n, out_dim)."""
        return self.mlp(torch.cat(list(encodings), dim=1))
