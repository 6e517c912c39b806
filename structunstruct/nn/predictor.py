"""The additive predictor shared by every head: structured part + deep part."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from .fusion import ConcatFusion
from .orthogonalization import Orthogonalization


class AdditivePredictor(nn.Module):
    """``eta = X beta + h(U)``: a linear structured part plus a fused deep part.

    Parameters
    ----------
    n_structured : int
        Columns of the structured design (read from ``batch["structured"]``).
    encoders : mapping of str to nn.Module
        Modality encoders; each declares ``input_keys`` and ``out_dim``.
    fusion_layers : sequence of int
        Hidden widths after concatenating the encodings.
    dropout : float
        Dropout in the fusion MLP.
    orthogonalize : bool
        Orthogonalize the fused latent features against ``[1, X]`` (needs structured terms).
    n_outputs : int
        Width of the predictor (1 for Cox; one per distribution parameter elsewhere).
    bias : bool
        Whether the predictor has an intercept (not for Cox, where it is not identified).

    Attributes
    ----------
    out_dim : int
        Equal to ``n_outputs``.
    """

    def __init__(
        self,
        n_structured: int,
        encoders: Mapping[str, nn.Module] | None = None,
        fusion_layers: Sequence[int] = (),
        dropout: float = 0.0,
        orthogonalize: bool = False,
        n_outputs: int = 1,
        bias: bool = False,
    ) -> None:
        super().__init__()
        encoders = dict(encoders or {})
        self.n_structured = int(n_structured)
        self.structured = nn.Linear(n_structured, n_outputs, bias=False) if n_structured else None
        self.encoders = nn.ModuleDict(encoders)
        self.fusion = None
        self.deep_head = None
        self.orthogonalization = None
        if encoders:
            self.fusion = ConcatFusion([e.out_dim for e in encoders.values()], fusion_layers, dropout)
            self.deep_head = nn.Linear(self.fusion.out_dim, n_outputs, bias=False)
            if orthogonalize and n_structured:
                self.orthogonalization = Orthogonalization()
        self.bias = nn.Parameter(torch.zeros(n_outputs)) if bias else None
        self.out_dim = int(n_outputs)

    @property
    def has_deep_part(self) -> bool:
        """Whether any modality encoder is present."""
        return self.fusion is not None

    def latent(self, batch: Mapping[str, Tensor]) -> Tensor:
        """Fused deep features before orthogonalization, shape (n, fusion.out_dim)."""
        encodings = [enc(*(batch[k] for k in enc.input_keys)) for enc in self.encoders.values()]
        return self.fusion(encodings)

    def forward(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Evaluate the predictor.

        Parameters
        ----------
        batch : mapping of str to Tensor
            ``"structured"`` of shape (n, n_structured) and each encoder's inputs.

        Returns
        -------
        dict with ``"eta"``, ``"structured"`` and ``"deep"``, each of shape (n, n_outputs).
        """
        reference = next(iter(batch.values()))
        n = reference.shape[0]
        zeros = torch.zeros(n, self.out_dim, device=reference.device)
        structured = self.structured(batch["structured"]) if self.structured is not None else zeros
        deep = zeros
        if self.fusion is not None:
            latent = self.latent(batch)
            if self.orthogonalization is not None:
                latent = self.orthogonalization(latent, batch["structured"])
            deep = self.deep_head(latent)
        eta = structured.float() + deep.float()
        if self.bias is not None:
            eta = eta + self.bias
        return {"eta": eta, "structured": structured, "deep": deep}
