"""Torch building blocks, free of pandas and scikit-learn.

Encoders (tabular, image, text), fusion, the orthogonalization cell, the additive
predictor shared by every head, and losses.
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
from .fusion import ConcatFusion
from .orthogonalization import Orthogonalization, orthogonal_complement
from .predictor import AdditivePredictor

__all__ = [
    "BagOfWordsEncoder",
    "AdditivePredictor",
    "ConcatFusion",
    "DistributionalPredictor",
    "CoxPHLoss",
    "ImageEncoder",
    "Orthogonalization",
    "SmallConvNet",
    "TabularEncoder",
    "cox_ph_loss",
    "create_image_encoder",
    "get_family",
    "list_families",
    "list_image_encoders",
    "orthogonal_complement",
    "register_image_encoder",
]
