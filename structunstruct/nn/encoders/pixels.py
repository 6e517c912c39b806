"""Standardize image batches inside the network, so images can be stored as decoded.

An 8-bit image means ``x / 255`` on the [0, 1] scale. The network computes exactly what
standardizing float images up front computes, in the same float32 operations:
``(x / 255 - mean) / std`` for uint8 storage and ``(x - mean) / std`` for float storage
of ``x / 255`` (float32 division is correctly rounded in numpy and torch alike), so a
model sees bit-identical batches whichever way its images are stored.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def standardize_pixels(image: Tensor, mean: Tensor, std: Tensor, pixel_divisor: float = 1.0) -> Tensor:
    """Standardized float32 images from stored pixel values.

    Parameters
    ----------
    image : Tensor of shape (n, C, H, W)
        Stored pixels (uint8 for 8-bit images, float otherwise).
    mean, std : Tensor of shape (1, C, 1, 1)
        Per-channel statistics on the scale of ``image / pixel_divisor``.
    pixel_divisor : float, default=1.0
        255 for uint8 images, 1 for float images.

    Returns
    -------
    Tensor of shape (n, C, H, W), float32
    """
    x = image.float()
    if pixel_divisor != 1.0:
        x = x / pixel_divisor
    return (x - mean) / std


class StandardizedImageEncoder(nn.Module):
    """Scale and standardize raw pixels per channel, then run an image encoder.

    Images are kept as decoded (uint8 for 8-bit data: a quarter of the memory and of the
    host-to-device traffic of float32) and converted batch by batch on the device.

    Parameters
    ----------
    encoder : nn.Module
        Maps standardized (n, C, H, W) float images to (n, out_dim) features.
    mean, std : sequence of float
        Per-channel statistics of the training images on the scaled pixel values.
    pixel_scale : float
        Factor from stored values to the scale of ``mean`` (1/255 for uint8 images).
    input_key : str, default="image"
        Batch key of the images (``"image:<column>"`` with several image columns).
        Two instances may wrap the same ``encoder``: one backbone shared by two image
        columns, each standardized with its own statistics.

    Attributes
    ----------
    out_dim : int
    input_keys : tuple of str
    """

    input_keys = ("image",)

    def __init__(self, encoder: nn.Module, mean, std, pixel_scale: float = 1.0, input_key: str = "image") -> None:
        super().__init__()
        self.input_keys = (str(input_key),)
        self.encoder = encoder
        self.out_dim = int(encoder.out_dim)
        shape = (1, len(mean), 1, 1)
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32).reshape(shape))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32).reshape(shape))
        self.pixel_divisor = float(round(1.0 / pixel_scale))

    def standardize(self, image: Tensor) -> Tensor:
        """The standardized float32 batch the encoder sees, shape (n, C, H, W)."""
        return standardize_pixels(image, self.mean, self.std, self.pixel_divisor)

    def forward(self, image: Tensor) -> Tensor:
        return self.encoder(self.standardize(image))
