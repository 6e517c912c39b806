r"""DeepCorrSurv's correlation objective between two modality embeddings.

Yao, Zhu, Zhu & Huang (2017), "Deep correlational learning for survival prediction
from multi-modality data", MICCAI: one subnetwork per modality (pathology images,
molecular data) is first trained to maximise the correlation of the two embeddings,
then the pair is fine-tuned on the Cox loss. The objective used here is the one of
the paper, the sum over embedding dimensions of the Pearson correlation of the
paired embeddings over the batch (not full CCA, which whitens the embeddings and
maximises the canonical correlations; the per-dimension sum is what DeepCorrSurv
optimises and needs no matrix square roots):

.. math::

    L(a, b) = -\sum_{k=1}^{d} \frac{\sum_i (a_{ik} - \bar a_k)(b_{ik} - \bar b_k)}
              {\sqrt{\sum_i (a_{ik} - \bar a_k)^2 \sum_i (b_{ik} - \bar b_k)^2 + \epsilon}}

``L = -d`` for perfectly correlated embeddings, about 0 for independent ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from torch import Tensor, nn

from ._pretrain import call_encoder, run_pretraining


def correlation_loss(a: Tensor, b: Tensor, eps: float = 1e-8) -> Tensor:
    """Negative sum over dimensions of the Pearson correlations of two embeddings.

    Parameters
    ----------
    a, b : Tensor of shape (n, d)
        Paired embeddings of the same ``n`` rows by two modalities; ``n >= 2``.
    eps : float
        Added under the square root of the denominator (a constant dimension then
        has correlation 0 instead of NaN).

    Returns
    -------
    Tensor
        Scalar in ``[-d, d]``; ``-d`` when every dimension of ``a`` is a positive
        affine function of the same dimension of ``b``.

    Raises
    ------
    ValueError
        If the shapes differ or there are fewer than two rows.
    """
    if a.shape != b.shape or a.dim() != 2:
        raise ValueError(f"embeddings must be two (n, d) tensors of one shape; got {tuple(a.shape)} "
                         f"and {tuple(b.shape)}")
    if a.shape[0] < 2:
        raise ValueError(f"a correlation needs at least 2 rows; got {a.shape[0]}")
    a = a - a.mean(dim=0)
    b = b - b.mean(dim=0)
    covariance = (a * b).sum(dim=0)
    scale = ((a * a).sum(dim=0) * (b * b).sum(dim=0) + eps).sqrt()
    return -(covariance / scale).sum()


class CorrelationLoss(nn.Module):
    """Module wrapper of :func:`correlation_loss` (DeepCorrSurv, Yao et al. 2017).

    Parameters
    ----------
    eps : float
        See :func:`correlation_loss`.
    """

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = float(eps)

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        """Loss of shape (); see :func:`correlation_loss`.

        Parameters
        ----------
        a : Tensor of shape (n, d)
            Embedding of the rows by the first modality.
        b : Tensor of shape (n, d)
            Embedding of the same rows by the second modality.

        Returns
        -------
        Tensor
            Scalar negative sum of the per-dimension correlations.
        """
        return correlation_loss(a, b, self.eps)


def pretrain_correlation(
    encoder_a: nn.Module,
    encoder_b: nn.Module,
    batches: Iterable[tuple[Any, Any]],
    *,
    epochs: int = 10,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    eps: float = 1e-8,
) -> list[float]:
    """Train two modality subnetworks to maximise the correlation of their embeddings.

    DeepCorrSurv's first stage (Yao et al. 2017); the encoders are trained in place
    and then fine-tuned on the survival loss by the caller.

    Parameters
    ----------
    encoder_a, encoder_b : torch.nn.Module
        Subnetworks of the two modalities, each returning (n, d) with the same ``d``.
    batches : iterable of (inputs_a, inputs_b)
        Re-iterable (a list or DataLoader) of paired inputs of the same rows; an
        input that is a tuple or list is unpacked into the encoder's arguments.
        Batches need at least two rows.
    epochs : int
        Passes over ``batches``.
    lr, weight_decay : float
        Adam settings.
    eps : float
        See :func:`correlation_loss`.

    Returns
    -------
    list of float
        Mean :func:`correlation_loss` of each epoch (falls as the correlation rises).
    """
    def batch_loss(batch: tuple[Any, Any]) -> Tensor:
        inputs_a, inputs_b = batch
        return correlation_loss(call_encoder(encoder_a, inputs_a), call_encoder(encoder_b, inputs_b), eps)

    return run_pretraining([encoder_a, encoder_b], batches, batch_loss, epochs=epochs, lr=lr,
                           weight_decay=weight_decay)
