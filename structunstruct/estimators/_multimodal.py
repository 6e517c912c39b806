"""The chapter's multimodal settings of every estimator, resolved in one place.

- ``similarity_loss`` (Cheerla & Gevaert 2019): the weight of
  :func:`~structunstruct.nn.multimodal.similarity_loss` between the modality embeddings,
  added to the head's training loss by :func:`with_similarity_loss` (the network
  returns the embeddings, :class:`~structunstruct.nn.multimodal.ModalityEmbeddings`).
- ``pretraining`` (DeepCorrSurv, ConcatAE/CrossAE, CLIP): :mod:`._pretraining`.
- ``transform``: the modality encodings and the fused representation of rows
  (:func:`embedding_frame`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from ..nn import AdditivePredictor
from ..nn.multimodal import similarity_loss
from ._pretraining import PRETRAININGS, pretrain_module


def find_predictor(module: torch.nn.Module | None) -> AdditivePredictor | None:
    """The additive predictor inside a head's module (the module itself for Cox; the
    first one met otherwise, e.g. the location predictor of a distributional model)."""
    if module is None:
        return None
    return next((m for m in module.modules() if isinstance(m, AdditivePredictor)), None)


def check_multimodal_settings(estimator: Any) -> None:
    """Check ``similarity_loss`` and ``pretraining`` before any data is read.

    Raises
    ------
    ValueError
        For an unknown ``pretraining`` (listing the known ones), and for either
        setting with ``fusion="late"`` (each late member has one modality).
    """
    if estimator.pretraining is not None and estimator.pretraining not in PRETRAININGS:
        raise ValueError(f"pretraining must be None or one of {sorted(PRETRAININGS)}; "
                         f"got {estimator.pretraining!r}")
    for name, active in (("similarity_loss", estimator.similarity_loss > 0),
                         ("pretraining", estimator.pretraining is not None)):
        if active and estimator.fusion == "late":
            raise ValueError(
                f"{name} relates the modality encoders of one network; with fusion='late' "
                "each member has one modality (use fusion='joint')"
            )


def similarity_embedding_dim(weight: float, encoders: Mapping[str, torch.nn.Module]) -> int | None:
    """Width of the common embedding space of the similarity loss (``None`` when off).

    The smallest encoding width, so at most a projection down.

    Raises
    ------
    ValueError
        If the weight is positive and there are fewer than two modality encoders.
    """
    if not weight > 0:
        return None
    if len(encoders) < 2:
        raise ValueError(
            "similarity_loss compares the embeddings of at least two modalities (the tabular "
            "network, image columns with fusion='joint', text columns with text_encoder='bow'); "
            f"this model has the encoders {list(encoders)}"
        )
    return min(int(e.out_dim) for e in encoders.values())


def similarity_term(outputs: Mapping[str, Tensor]) -> Tensor:
    """:func:`~structunstruct.nn.multimodal.similarity_loss` (default margin, mean
    reduction) of the embeddings in a network's outputs; absent or dropped modalities
    are left out."""
    embeddings = outputs["embeddings"].float()
    present = outputs["embeddings_present"] > 0.5
    return similarity_loss(list(embeddings.unbind(dim=1)), present)


def with_similarity_loss(loss_fn: Callable, weight: float) -> Callable:
    """``loss_fn(outputs, batch) + weight * similarity_term(outputs)``."""

    def loss(outputs: dict, batch: dict) -> Tensor:
        return loss_fn(outputs, batch) + weight * similarity_term(outputs)

    return loss


def embedding_frame(predictor: AdditivePredictor | None, batches: Any, index: pd.Index) -> pd.DataFrame:
    """Each modality's encoding and the fused deep features of rows, as a DataFrame.

    Parameters
    ----------
    predictor : AdditivePredictor or None
        The fitted network's predictor (in evaluation mode on the batches' device).
    batches : iterable of dict of str to Tensor
        Consecutive row chunks of the inputs.
    index : pandas.Index
        Index of the rows.

    Raises
    ------
    ValueError
        If the predictor has no deep part.
    """
    if predictor is None or not predictor.has_deep_part:
        raise ValueError(
            "transform returns the latent features of the deep part; this model has none "
            "(the classical model: no tabular network, image or text column)"
        )
    parts: dict[str, list[np.ndarray]] = {}
    with torch.no_grad():
        for batch in batches:
            encodings, _ = predictor.encode(batch)
            encodings["fused"] = predictor.fusion(list(encodings.values()))
            for name, value in encodings.items():
                parts.setdefault(name, []).append(value.float().cpu().numpy())
    frames = []
    for name, chunks in parts.items():
        values = np.concatenate(chunks).astype(np.float64)
        frames.append(pd.DataFrame(values, index=index, columns=[f"{name}_{j}" for j in range(values.shape[1])]))
    return pd.concat(frames, axis=1)


__all__ = [
    "check_multimodal_settings",
    "embedding_frame",
    "find_predictor",
    "pretrain_module",
    "similarity_embedding_dim",
    "similarity_term",
    "with_similarity_loss",
]
