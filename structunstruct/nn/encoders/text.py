"""Text encoder: word embeddings averaged over the tokens of a text, then an MLP."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from .tabular import make_mlp


class BagOfWordsEncoder(nn.Module):
    """Mean of trainable word embeddings (padding id 0 ignored), then an MLP.

    Parameters
    ----------
    n_ids : int
        Size of the id space (0 = padding, 1 = unknown word).
    embedding_dim : int
        Width of the word embeddings.
    hidden_layers : sequence of int
        MLP widths after pooling; the last is ``out_dim``.
    dropout : float
    input_key : str, default="text"
        Batch key of the word ids (``"text:<column>"`` with several text columns).

    Attributes
    ----------
    out_dim : int
    input_keys : tuple of str
    """

    input_keys = ("text",)

    def __init__(
        self,
        n_ids: int,
        embedding_dim: int = 32,
        hidden_layers: Sequence[int] = (32,),
        dropout: float = 0.1,
        input_key: str = "text",
    ) -> None:
        super().__init__()
        self.input_keys = (str(input_key),)
        self.embedding = nn.Embedding(n_ids, embedding_dim, padding_idx=0)
        self.mlp = make_mlp(embedding_dim, hidden_layers, dropout)
        self.out_dim = int(hidden_layers[-1]) if len(hidden_layers) else embedding_dim

    def forward(self, text: Tensor) -> Tensor:
        """Encode token ids of shape (n, max_tokens) into (n, out_dim).

        Parameters
        ----------
        text : Tensor of shape (n, max_tokens)
            Token ids, 0 for padding.
        """
        mask = (text != 0).unsqueeze(-1).to(self.embedding.weight.dtype)
        summed = (self.embedding(text) * mask).sum(dim=1)
        pooled = summed / mask.sum(dim=1).clamp_min(1.0)
        return self.mlp(pooled)


__all__ = ["BagOfWordsEncoder"]
