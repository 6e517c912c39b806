r"""MultiSurv's fusion of any number of modality embeddings, with missing modalities masked.

Vale-Silva & Rohr (2021), "Long-term cancer survival prediction using multimodal
deep learning", Scientific Reports 11:13505: one subnetwork per modality maps it
to a feature vector of one width ``d``; a fusion layer turns the ``k`` vectors of a
patient into one vector of width ``d``, which an FCNN head maps to interval hazards.

All fusions take the embeddings stacked as ``x`` of shape (k, n, d) and a mask
``present`` of shape (n, k); absent modalities never contribute:

- ``"max"``: element-wise maximum over the present modalities;
- ``"sum"``: element-wise sum over the present modalities;
- ``"mean"``: element-wise mean over the present modalities;
- ``"attention"``: MultiSurv's attention, element-wise weights
  :math:`w_{m} = \mathrm{softmax}_m(\tanh(W x_m))` (one ``d x d`` matrix ``W``
  without bias, the softmax over modalities, per feature) and
  :math:`\sum_m w_m \odot x_m`. MultiSurv zero-fills missing modalities and
  rescales the fused vector by ``1 + (number missing)``; here absent modalities are
  left out of the softmax instead, so the weights of the present ones sum to one.

A patient with no modality present gets a vector of zeros. Register new fusions
with :func:`register_modality_fusion`; each is a module class built as ``cls(dim)``
with ``out_dim`` and ``forward(x, present)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


def _stack(embeddings: Tensor | Sequence[Tensor], present: Tensor | None) -> tuple[Tensor, Tensor]:
    """Embeddings as (k, n, d) and the mask as (n, k) bool, checked."""
    x = embeddings if isinstance(embeddings, Tensor) else torch.stack(list(embeddings))
    if x.dim() != 3:
        raise ValueError(f"embeddings must be k tensors of shape (n, d), or one (k, n, d); got {tuple(x.shape)}")
    k, n, _ = x.shape
    if present is None:
        return x, torch.ones(n, k, dtype=torch.bool, device=x.device)
    if tuple(present.shape) != (n, k):
        raise ValueError(f"present must have shape (n, k) = {(n, k)}; got {tuple(present.shape)}")
    return x, present.to(device=x.device, dtype=torch.bool)


class _Fusion(nn.Module):
    """Base of the fusions: a width ``dim`` in, the same out."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.out_dim = int(dim)

    def forward(self, embeddings: Tensor | Sequence[Tensor], present: Tensor | None = None) -> Tensor:
        """Fuse ``k`` embeddings (k, n, d) or a sequence of (n, d) into (n, d).

        Parameters
        ----------
        embeddings : Tensor of shape (k, n, d), or sequence of k Tensors of shape (n, d)
        present : Tensor of shape (n, k), bool, optional
            Which modalities each row has; default all.
        """
        x, present = _stack(embeddings, present)
        mask = present.T[:, :, None]  # (k, n, 1)
        return self.fuse(x, mask)

    def fuse(self, x: Tensor, mask: Tensor) -> Tensor:
        raise NotImplementedError


class MaxFusion(_Fusion):
    """Element-wise maximum over the present modalities (MultiSurv's default).

    Parameters
    ----------
    dim : int
        Width ``d`` of every modality embedding.
    """

    def fuse(self, x: Tensor, mask: Tensor) -> Tensor:
        out = x.masked_fill(~mask, float("-inf")).amax(dim=0)
        return torch.where(mask.any(dim=0), out, torch.zeros_like(out))


class SumFusion(_Fusion):
    """Element-wise sum over the present modalities.

    Parameters
    ----------
    dim : int
        Width ``d`` of every modality embedding.
    """

    def fuse(self, x: Tensor, mask: Tensor) -> Tensor:
        return x.masked_fill(~mask, 0.0).sum(dim=0)


class MeanFusion(_Fusion):
    """Element-wise mean over the present modalities.

    Parameters
    ----------
    dim : int
        Width ``d`` of every modality embedding.
    """

    def fuse(self, x: Tensor, mask: Tensor) -> Tensor:
        return x.masked_fill(~mask, 0.0).sum(dim=0) / mask.sum(dim=0).clamp(min=1)


class AttentionFusion(_Fusion):
    """MultiSurv's attention fusion (Vale-Silva & Rohr 2021), absent modalities masked.

    Parameters
    ----------
    dim : int
        Width ``d`` of every modality embedding.
    """

    def __init__(self, dim: int) -> None:
        super().__init__(dim)
        self.fc = nn.Linear(dim, dim, bias=False)

    def weights(self, embeddings: Tensor | Sequence[Tensor], present: Tensor | None = None) -> Tensor:
        """Attention weights of shape (k, n, d); 0 for absent modalities.

        Parameters
        ----------
        embeddings : Tensor of shape (k, n, d), or sequence of k Tensors of shape (n, d)
            The modality embeddings to weight.
        present : Tensor of shape (n, k), bool, optional
            Which modalities each row has; default all.

        Returns
        -------
        Tensor of shape (k, n, d)
            Softmax weights over the present modalities, per row and feature.
        """
        x, present = _stack(embeddings, present)
        return self._weights(x, present.T[:, :, None])

    def _weights(self, x: Tensor, mask: Tensor) -> Tensor:
        scores = torch.tanh(self.fc(x)).masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=0)
        return torch.nan_to_num(weights, nan=0.0)  # rows without any modality: all -inf

    def fuse(self, x: Tensor, mask: Tensor) -> Tensor:
        return (self._weights(x, mask) * x.masked_fill(~mask, 0.0)).sum(dim=0)


#: Modality fusions by name (see the module docstring).
MODALITY_FUSIONS: dict[str, type[nn.Module]] = {
    "attention": AttentionFusion,
    "max": MaxFusion,
    "mean": MeanFusion,
    "sum": SumFusion,
}


def register_modality_fusion(name: str, cls: type[nn.Module]) -> None:
    """Register a fusion class under ``name``.

    Parameters
    ----------
    name : str
    cls : type
        Built as ``cls(dim)``; has ``out_dim`` and ``forward(embeddings, present=None)``.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"a fusion name must be a non-empty string; got {name!r}")
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise TypeError(f"a fusion must be a torch.nn.Module class; got {cls!r}")
    MODALITY_FUSIONS[name] = cls


def list_modality_fusions() -> list[str]:
    """Names of the registered modality fusions, sorted."""
    return sorted(MODALITY_FUSIONS)


def create_modality_fusion(name: str, dim: int) -> nn.Module:
    """Build the fusion ``name`` for embeddings of width ``dim``.

    Parameters
    ----------
    name : str
        Name of a registered modality fusion.
    dim : int
        Width ``d`` of every modality embedding.

    Returns
    -------
    torch.nn.Module
        The fusion module, built as ``cls(dim)``.

    Raises
    ------
    KeyError
        If ``name`` is not registered; the message lists the known names.
    """
    try:
        cls = MODALITY_FUSIONS[name]
    except KeyError:
        raise KeyError(f"unknown modality fusion {name!r}; known: {list_modality_fusions()}") from None
    return cls(dim)
