r"""CLIP's symmetric contrastive (InfoNCE) loss for image-text pretraining.

Radford et al. (2021), "Learning transferable visual models from natural language
supervision" (CLIP), as open_clip's ``ClipLoss`` computes it on one process: with
L2-normalised image and text embeddings :math:`u_i, v_i` of ``n`` pairs and a
learnable logit scale :math:`s = 1 / \tau`, the logits are
:math:`z_{ij} = s\, u_i^\top v_j` and

.. math::

    L = \tfrac{1}{2}\Bigl(\mathrm{CE}(z, \mathrm{arange}(n))
        + \mathrm{CE}(z^\top, \mathrm{arange}(n))\Bigr),

the mean cross-entropy of finding each image's text among the batch's texts and
each text's image among its images. The scale is learned as ``log s``, starts at
``1 / 0.07`` and is clamped to at most 100, as in CLIP. For embeddings that carry
no information (``z`` constant) the loss is ``log n``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._pretrain import call_encoder, run_pretraining


def clip_loss(image_features: Tensor, text_features: Tensor, logit_scale: Tensor | float,
              normalize: bool = True) -> Tensor:
    """Symmetric InfoNCE of paired image and text embeddings (see the module docstring).

    Parameters
    ----------
    image_features, text_features : Tensor of shape (n, d)
        Row ``i`` of each is the same pair.
    logit_scale : Tensor or float
        The inverse temperature ``s`` (not its log).
    normalize : bool
        L2-normalise the rows first (CLIP's models return normalised features).

    Returns
    -------
    Tensor
        Scalar loss.
    """
    if image_features.shape != text_features.shape or image_features.dim() != 2:
        raise ValueError(f"image and text embeddings must be (n, d) tensors of one shape; got "
                         f"{tuple(image_features.shape)} and {tuple(text_features.shape)}")
    if normalize:
        image_features = F.normalize(image_features, dim=1)
        text_features = F.normalize(text_features, dim=1)
    logits_per_image = logit_scale * image_features @ text_features.T
    labels = torch.arange(logits_per_image.shape[0], device=logits_per_image.device)
    return (F.cross_entropy(logits_per_image, labels) + F.cross_entropy(logits_per_image.T, labels)) / 2


class ClipLoss(nn.Module):
    """:func:`clip_loss` with a learnable temperature (CLIP, Radford et al. 2021).

    Parameters
    ----------
    temperature : float
        Initial temperature ``tau``; the logit scale starts at ``1 / tau``.
    max_logit_scale : float
        Upper clamp of the logit scale.
    learn_temperature : bool
        Whether the log scale is a trainable parameter.

    Attributes
    ----------
    log_logit_scale : torch.nn.Parameter of shape ()
    """

    def __init__(self, temperature: float = 0.07, max_logit_scale: float = 100.0,
                 learn_temperature: bool = True) -> None:
        super().__init__()
        if not temperature > 0 or not max_logit_scale > 0:
            raise ValueError(f"temperature and max_logit_scale must be > 0; got {temperature!r}, "
                             f"{max_logit_scale!r}")
        self.log_logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / temperature)),
                                            requires_grad=learn_temperature)
        self.max_logit_scale = float(max_logit_scale)

    @property
    def logit_scale(self) -> Tensor:
        """``exp(log_logit_scale)``, clamped to ``max_logit_scale``."""
        return self.log_logit_scale.exp().clamp(max=self.max_logit_scale)

    def forward(self, image_features: Tensor, text_features: Tensor) -> Tensor:
        """Loss of shape (); see :func:`clip_loss`.

        Parameters
        ----------
        image_features : Tensor of shape (n, d)
            Image embeddings, row ``i`` paired with row ``i`` of ``text_features``.
        text_features : Tensor of shape (n, d)
            Text embeddings, row ``i`` paired with row ``i`` of ``image_features``.

        Returns
        -------
        Tensor
            Scalar loss.
        """
        return clip_loss(image_features, text_features, self.logit_scale)


def pretrain_contrastive(
    image_encoder: nn.Module,
    text_encoder: nn.Module,
    batches: Iterable[tuple[Any, Any]],
    *,
    loss: ClipLoss | None = None,
    epochs: int = 10,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
) -> list[float]:
    """CLIP-style pretraining of an image and a text encoder on paired training rows.

    Parameters
    ----------
    image_encoder, text_encoder : torch.nn.Module
        Each returns (n, d) with the same ``d`` (end them in a linear projection to a
        common width); trained in place.
    batches : iterable of (image_inputs, text_inputs)
        Re-iterable (a list or DataLoader) of the pairs' inputs; an input that is a
        tuple or list is unpacked into the encoder's arguments. Rows of a batch are
        each other's negatives, so batches need at least two rows.
    loss : ClipLoss, optional
        Default ``ClipLoss()``; its temperature is trained with the encoders.
    epochs : int
    lr, weight_decay : float
        Adam settings.

    Returns
    -------
    list of float
        Mean loss of each epoch.
    """
    loss = ClipLoss() if loss is None else loss

    def batch_loss(batch: tuple[Any, Any]) -> Tensor:
        images, texts = batch
        return loss(call_encoder(image_encoder, images), call_encoder(text_encoder, texts))

    return run_pretraining([image_encoder, text_encoder, loss], batches, batch_loss, epochs=epochs, lr=lr,
                           weight_decay=weight_decay)
