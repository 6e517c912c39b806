r"""Cheerla & Gevaert's similarity loss between modality embeddings.

Cheerla & Gevaert (2019), "Deep learning with multimodal representation for
pancancer prognosis prediction", Bioinformatics 35(14): i446-i454. Each modality
``M`` has a subnetwork :math:`\theta_M` into one shared embedding space; a
margin-based ranking loss (after DeViSE, Frome et al. 2013) asks the embeddings of
one patient by two modalities to be more similar, by a margin :math:`m`, than the
embedding of that patient by one modality and of another patient by the other:

.. math::

    L_{sim} = \sum_{M \ne N} \sum_{i \ne j}
        \max\bigl(0,\; m - \mathrm{sim}(\theta_M(x_i), \theta_N(x_i))
                     + \mathrm{sim}(\theta_M(x_i), \theta_N(x_j))\bigr)

with the cosine similarity as ``sim``. The loss is added to the Cox loss and
trained end to end, together with multimodal dropout (dropping whole modalities).
Here ``reduction="sum"`` is the paper's sum; ``"mean"`` (default) divides it by the
number of terms, so its scale does not grow with the batch. Terms with a missing
modality (``present`` false) are left out.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_REDUCTIONS = ("mean", "sum")


def similarity_loss(embeddings: Sequence[Tensor], present: Tensor | None = None, margin: float = 0.1,
                    reduction: str = "mean") -> Tensor:
    """The margin ranking loss of Cheerla & Gevaert (2019) over modality pairs and patient pairs.

    Parameters
    ----------
    embeddings : sequence of Tensor of shape (n, d)
        One embedding per modality (at least two), rows the same patients.
    present : Tensor of shape (n, k), bool, optional
        Which modality each patient has; a term enters only when its three embeddings
        exist. Default: all present.
    margin : float
        The margin ``m`` of cosine similarities, >= 0.
    reduction : {"mean", "sum"}
        Mean over the terms that enter (0 when none does), or their sum (the paper's).

    Returns
    -------
    Tensor
        Scalar, >= 0; 0 when every patient's own pair is at least ``margin`` more
        similar than every mismatched pair.
    """
    if len(embeddings) < 2:
        raise ValueError(f"the similarity loss needs at least two modalities; got {len(embeddings)}")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {list(_REDUCTIONS)}; got {reduction!r}")
    if margin < 0:
        raise ValueError(f"margin must be >= 0; got {margin!r}")
    shapes = {tuple(e.shape) for e in embeddings}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f"embeddings must be (n, d) tensors of one shape; got {sorted(shapes)}")
    n, k = embeddings[0].shape[0], len(embeddings)
    present = torch.ones(n, k, dtype=torch.bool, device=embeddings[0].device) if present is None else present.bool()
    if tuple(present.shape) != (n, k):
        raise ValueError(f"present must have shape {(n, k)}; got {tuple(present.shape)}")
    unit = [F.normalize(e, dim=1) for e in embeddings]
    off_diagonal = ~torch.eye(n, dtype=torch.bool, device=present.device)
    total, count = unit[0].new_zeros(()), 0
    for a in range(k):
        for b in range(k):
            if a == b:
                continue
            sim = unit[a] @ unit[b].T  # sim[i, j] = cos(theta_a(x_i), theta_b(x_j))
            terms = torch.relu(margin - sim.diagonal()[:, None] + sim)
            valid = off_diagonal & (present[:, a] & present[:, b])[:, None] & present[:, b][None, :]
            total = total + terms[valid].sum()
            count += int(valid.sum())
    if reduction == "sum":
        return total
    return total / max(count, 1)


class SimilarityLoss(nn.Module):
    """Module wrapper of :func:`similarity_loss` (Cheerla & Gevaert 2019).

    Parameters
    ----------
    margin : float
    reduction : {"mean", "sum"}
    """

    def __init__(self, margin: float = 0.1, reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f"reduction must be one of {list(_REDUCTIONS)}; got {reduction!r}")
        self.margin = float(margin)
        self.reduction = reduction

    def forward(self, embeddings: Sequence[Tensor], present: Tensor | None = None) -> Tensor:
        """Loss of shape (); see :func:`similarity_loss`.

        Parameters
        ----------
        embeddings : sequence of Tensor of shape (n, d)
            One embedding per modality (at least two), rows the same patients.
        present : Tensor of shape (n, k), bool, optional
            Which modality each patient has; default all present.

        Returns
        -------
        Tensor
            Scalar loss, >= 0.
        """
        return similarity_loss(embeddings, present, self.margin, self.reduction)
