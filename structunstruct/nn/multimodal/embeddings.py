"""Modality encodings in one embedding space, for losses between modalities.

Cheerla & Gevaert (2019) compare the embeddings of one patient by several modalities
(:func:`~structunstruct.nn.multimodal.similarity_loss`), which needs one width. Each
modality encoder here has its own width (a CNN's features, a tabular MLP's last
layer), so when the widths differ each encoding gets its own linear projection to
the common width; when they are equal the encodings are used as they are.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn


class ModalityEmbeddings(nn.Module):
    """Project each modality's encoding to a common width and stack them.

    Parameters
    ----------
    dims : mapping of str to int
        Encoding width of each modality, by encoder name (at least two).
    embedding_dim : int
        The common width; each encoding is projected by ``nn.Linear(dims[name],
        embedding_dim)`` unless every width already equals it.

    Attributes
    ----------
    out_dim : int
        ``embedding_dim``.
    """

    def __init__(self, dims: Mapping[str, int], embedding_dim: int) -> None:
        super().__init__()
        if len(dims) < 2:
            raise ValueError(f"modality embeddings need at least two modalities; got {list(dims)}")
        if int(embedding_dim) < 1:
            raise ValueError(f"embedding_dim must be a positive integer; got {embedding_dim!r}")
        self.names = tuple(dims)
        self.out_dim = int(embedding_dim)
        same = all(int(d) == self.out_dim for d in dims.values())
        self.projections = None if same else nn.ModuleDict(
            {name: nn.Linear(int(d), self.out_dim) for name, d in dims.items()}
        )

    def project(self, encodings: Mapping[str, Tensor]) -> list[Tensor]:
        """The embeddings, each of shape (n, out_dim), in the order of ``dims``."""
        if self.projections is None:
            return [encodings[name] for name in self.names]
        return [self.projections[name](encodings[name]) for name in self.names]

    def forward(self, encodings: Mapping[str, Tensor], keep: Mapping[str, Tensor] | None = None
                ) -> dict[str, Tensor]:
        """Stacked embeddings and which of them are used.

        Parameters
        ----------
        encodings : mapping of str to Tensor of shape (n, dims[name])
        keep : mapping of str to Tensor of shape (n,), bool, optional
            Rows whose encoding is used, for the modalities that may be absent (the
            others are present in every row).

        Returns
        -------
        dict with ``"embeddings"`` of shape (n, k, out_dim) and ``"embeddings_present"``
        of shape (n, k), float32 (1.0 where the encoding is used), ``k = len(dims)``.
        """
        embeddings = torch.stack([e.float() for e in self.project(encodings)], dim=1)
        keep = keep or {}
        n = embeddings.shape[0]
        present = torch.stack(
            [keep[name].float() if name in keep else embeddings.new_ones(n) for name in self.names], dim=1
        )
        return {"embeddings": embeddings, "embeddings_present": present}


__all__ = ["ModalityEmbeddings"]
