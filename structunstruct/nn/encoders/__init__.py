"""Modality encoders: each maps its inputs to (n, out_dim) features."""

from .image import (
    ImageEncoder,
    SmallConvNet,
    count_parameters,
    create_image_encoder,
    list_image_encoders,
    register_image_encoder,
)
from .tabular import TabularEncoder, make_mlp
from .text import BagOfWordsEncoder

__all__ = [
    "BagOfWordsEncoder",
    "ImageEncoder",
    "SmallConvNet",
    "TabularEncoder",
    "count_parameters",
    "create_image_encoder",
    "list_image_encoders",
    "make_mlp",
    "register_image_encoder",
]
