"""Deep tabular encoder: categorical embeddings and an MLP."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


def make_mlp(in_dim: int, hidden_layers: Sequence[int], dropout: float) -> nn.Sequential:
    """A stack of Linear, ReLU and Dropout layers (empty when ``hidden_layers`` is empty).

    Parameters
    ----------
    in_dim : int
        Input width.
    hidden_layers : sequence of int
        Widths of the hidden layers.
    dropout : float
        Dropout probability after each hidden layer.
    """
    layers: list[nn.Module] = []
    width = in_dim
    for units in hidden_layers:
        layers += [nn.Linear(width, units), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = units
    return nn.Sequential(*layers)


def embedding_width(cardinality: int) -> int:
    """Default embedding width for a categorical column: min(16, ceil((k + 1) / 2))."""
    return int(min(16, (cardinality + 2) // 2))


class TabularEncoder(nn.Module):
    """Embed categorical codes, concatenate them with numerics, apply an MLP.

    Parameters
    ----------
    n_numeric : int
        Number of (standardized) numeric inputs.
    cardinalities : sequence of int
        Known levels of each categorical input; code 0 is "unseen".
    hidden_layers : sequence of int
        MLP widths; the last one is ``out_dim`` (the input width when empty).
    dropout : float
        Dropout after each hidden layer.

    Attributes
    ----------
    out_dim : int
        Width of the encoding.
    input_keys : tuple of str
        Names of the batch entries this encoder reads.
    """

    input_keys = ("numeric", "categorical")

    def __init__(
        self,
        n_numeric: int,
        cardinalities: Sequence[int] = (),
        hidden_layers: Sequence[int] = (64, 32),
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.embeddings = nn.ModuleList(
            nn.Embedding(k + 1, embedding_width(k)) for k in cardinalities
        )
        in_dim = n_numeric + sum(embedding_width(k) for k in cardinalities)
        if in_dim == 0:
            raise ValueError("the tabular encoder needs at least one input column")
        self.mlp = make_mlp(in_dim, hidden_layers, dropout)
        self.out_dim = int(hidden_layers[-1]) if len(hidden_layers) else in_dim

    def forward(self, numeric: Tensor, categorical: Tensor) -> Tensor:
        """Encode a batch.

        Parameters
        ----------
        numeric : Tensor of shape (n, n_numeric)
        categorical : Tensor of shape (n, n_categorical), int64

        Returns
        -------
        Tensor of shape (n, out_dim)
        """
        if len(self.embeddings):
            embedded = [emb(categorical[:, j]) for j, emb in enumerate(self.embeddings)]
            numeric = torch.cat([numeric, *embedded], dim=1)
        return self.mlp(numeric) if len(self.mlp) else numeric
