"""Building blocks and objectives of the chapter's multimodal survival models (torch only).

- DeepCorrSurv (Yao et al. 2017): :func:`correlation_loss`, :class:`CorrelationLoss`,
  :func:`pretrain_correlation`.
- ConcatAE and CrossAE (Tong et al. 2020): :class:`ModalityAutoencoder`,
  :class:`ConcatAE`, :class:`CrossAE`, :func:`reconstruction_loss`,
  :func:`cross_reconstruction_loss`, :func:`pretrain_autoencoders`.
- Cheerla & Gevaert (2019): :func:`similarity_loss`, :class:`SimilarityLoss`, and
  :class:`ModalityEmbeddings` (encodings of several widths in one space).
- MultiSurv (Vale-Silva & Rohr 2021): modality fusions by name
  (:func:`create_modality_fusion`, :func:`list_modality_fusions`,
  :func:`register_modality_fusion`; :class:`AttentionFusion` and others), and the
  logistic-hazard head (:class:`LogisticHazardHead`, :func:`nll_logistic_hazard`,
  :class:`LogisticHazardLoss`, :func:`discretize_survival`,
  :func:`logistic_hazard_survival`).
- CLIP (Radford et al. 2021) image-text pretraining: :func:`clip_loss`,
  :class:`ClipLoss`, :func:`pretrain_contrastive`.

Pretraining functions take the encoders and a re-iterable of batches, train in
place with Adam and return the mean loss of each epoch.
"""

from .autoencoders import (
    ConcatAE,
    CrossAE,
    ModalityAutoencoder,
    cross_reconstruction_loss,
    pretrain_autoencoders,
    reconstruction_loss,
)
from .contrastive import ClipLoss, clip_loss, pretrain_contrastive
from .correlation import CorrelationLoss, correlation_loss, pretrain_correlation
from .discrete import (
    LogisticHazardHead,
    LogisticHazardLoss,
    discretize_survival,
    logistic_hazard_survival,
    nll_logistic_hazard,
)
from .embeddings import ModalityEmbeddings
from .fusion import (
    AttentionFusion,
    MaxFusion,
    MeanFusion,
    SumFusion,
    create_modality_fusion,
    list_modality_fusions,
    register_modality_fusion,
)
from .similarity import SimilarityLoss, similarity_loss

__all__ = [
    "AttentionFusion",
    "ClipLoss",
    "ConcatAE",
    "CorrelationLoss",
    "CrossAE",
    "LogisticHazardHead",
    "LogisticHazardLoss",
    "MaxFusion",
    "MeanFusion",
    "ModalityEmbeddings",
    "ModalityAutoencoder",
    "SimilarityLoss",
    "SumFusion",
    "clip_loss",
    "correlation_loss",
    "create_modality_fusion",
    "cross_reconstruction_loss",
    "discretize_survival",
    "list_modality_fusions",
    "logistic_hazard_survival",
    "nll_logistic_hazard",
    "pretrain_autoencoders",
    "pretrain_contrastive",
    "pretrain_correlation",
    "reconstruction_loss",
    "register_modality_fusion",
    "similarity_loss",
]
