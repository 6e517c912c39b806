"""Torch building blocks, free of pandas and scikit-learn.

Encoders (tabular, image, text), fusion, the orthogonalization cell, the additive
predictor shared by every head, losses, and (``structunstruct.nn.multimodal``) the
building blocks and objectives of the chapter's multimodal survival models.
"""

from ..heads.cox.loss import CoxPHLoss, cox_ph_loss
from ..heads.distributional.families import DistributionalPredictor, get_family, list_families
from .encoders import (
    BagOfWordsEncoder,
    ImageEncoder,
    SmallConvNet,
    TabularEncoder,
    create_image_encoder,
    list_image_encoders,
    register_image_encoder,
)
from .fusion import (
    ConcatFusion,
    ModalityFusionLayer,
    create_fusion_layer,
    list_fusion_layers,
    register_fusion_layer,
)
from .multimodal import (
    AttentionFusion,
    ClipLoss,
    ConcatAE,
    CorrelationLoss,
    CrossAE,
    LogisticHazardHead,
    LogisticHazardLoss,
    MaxFusion,
    MeanFusion,
    ModalityAutoencoder,
    SimilarityLoss,
    SumFusion,
    clip_loss,
    correlation_loss,
    create_modality_fusion,
    cross_reconstruction_loss,
    discretize_survival,
    list_modality_fusions,
    logistic_hazard_survival,
    nll_logistic_hazard,
    pretrain_autoencoders,
    pretrain_contrastive,
    pretrain_correlation,
    reconstruction_loss,
    register_modality_fusion,
    similarity_loss,
)
from .orthogonalization import Orthogonalization, orthogonal_complement
from .predictor import AdditivePredictor

__all__ = [
    "AdditivePredictor",
    "AttentionFusion",
    "BagOfWordsEncoder",
    "ClipLoss",
    "ConcatAE",
    "ConcatFusion",
    "ModalityFusionLayer",
    "CorrelationLoss",
    "CoxPHLoss",
    "CrossAE",
    "DistributionalPredictor",
    "ImageEncoder",
    "LogisticHazardHead",
    "LogisticHazardLoss",
    "MaxFusion",
    "MeanFusion",
    "ModalityAutoencoder",
    "Orthogonalization",
    "SimilarityLoss",
    "SmallConvNet",
    "SumFusion",
    "TabularEncoder",
    "clip_loss",
    "correlation_loss",
    "cox_ph_loss",
    "create_image_encoder",
    "create_fusion_layer",
    "create_modality_fusion",
    "cross_reconstruction_loss",
    "discretize_survival",
    "get_family",
    "list_families",
    "list_image_encoders",
    "list_fusion_layers",
    "list_modality_fusions",
    "logistic_hazard_survival",
    "nll_logistic_hazard",
    "orthogonal_complement",
    "pretrain_autoencoders",
    "pretrain_contrastive",
    "pretrain_correlation",
    "reconstruction_loss",
    "register_image_encoder",
    "register_fusion_layer",
    "register_modality_fusion",
    "similarity_loss",
]
