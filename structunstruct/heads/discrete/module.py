"""The logistic-hazard network: one logit per cut (torch only)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from ...nn.multimodal.discrete import LogisticHazardHead

#: Logit of a cut without any training event (hazard about 2e-9); its negative for a cut where
#: every row at risk has an event.
NO_EVENT_LOGIT = -20.0


class LogisticHazardPredictor(nn.Module):
    """``phi_j(x) = X beta + g_j(h(U))``: logits of the hazard at each of ``n_cuts`` cuts.

    The structured terms ``X beta`` are one linear part shared by every cut (the odds
    ratios of the discrete hazard are the same in each interval: a proportional-odds
    model in discrete time). The additive predictor's fused deep features ``h(U)`` go
    through the output layer of :class:`~structunstruct.nn.multimodal.LogisticHazardHead`
    (one logit per cut; its bias is the baseline). Without a deep part the baseline is
    a parameter of its own. The output layer's weights start at zero, so training
    starts at the structured fit. The additive predictor's one-output ``deep_head``
    is removed: the hazard head replaces it.

    Parameters
    ----------
    predictor : AdditivePredictor
        Built with one output and no bias.
    n_cuts : int
        Number of logits, ``len(cuts)``.
    """

    def __init__(self, predictor: nn.Module, n_cuts: int) -> None:
        super().__init__()
        predictor.deep_head = None  # replaced by the hazard head
        self.predictor = predictor
        self.hazard = LogisticHazardHead(predictor.fusion.out_dim, n_cuts) if predictor.has_deep_part else None
        if self.hazard is not None:  # start at the classical fit (set_baseline): the deep part at 0
            nn.init.zeros_(self.hazard.out.weight)
        self.baseline = None if predictor.has_deep_part else nn.Parameter(torch.zeros(n_cuts))
        self.out_dim = int(n_cuts)

    @property
    def has_deep_part(self) -> bool:
        """Whether any modality encoder is present."""
        return self.predictor.has_deep_part

    def set_baseline(self, logits: Tensor) -> None:
        """Set the per-cut baseline logits (the output layer's bias with a deep part)."""
        target = self.baseline if self.hazard is None else self.hazard.out.bias
        with torch.no_grad():
            target.copy_(torch.as_tensor(logits, dtype=target.dtype))

    def forward(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """``"eta"``: the logits (n, n_cuts); ``"structured"`` (n, 1); ``"deep"`` (n, n_cuts)."""
        p = self.predictor
        x = batch["structured"]
        structured = p.structured(x).float() if p.structured is not None else x.new_zeros(x.shape[0], 1)
        if self.hazard is not None:
            latent = p.latent(batch)
            if p.orthogonalization is not None:
                latent = p.orthogonalization(latent, x, batch.get("orthogonalization_weight"))
            deep = self.hazard(latent).float()
        else:
            deep = self.baseline.expand(x.shape[0], -1)
        return {"eta": structured + deep, "structured": structured, "deep": deep}


__all__ = ["NO_EVENT_LOGIT", "LogisticHazardPredictor"]
