"""Standardize image batches inside the network, so images can be stored as decoded."""

from __future__ import annotations

import torch
from torch import Tensor, nn


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

    Attributes
    ----------
    out_dim : int
    input_keys : tuple of str
    """

    input_keys = ("image",)

    def __init__(self, encoder: nn.Module, mean, std, pixel_scale: float = 1.0) -> None:
        super().__init__()
        self.encoder = encoder
        self.out_dim = int(encoder.out_dim)
        shape = (1, len(mean), 1, 1)
        mean = torch.as_tensor(mean, dtype=torch.float32).reshape(shape)
        std = torch.as_tensor(std, dtype=torch.float32).reshape(shape)
        # (x * pixel_scale - mean) / std as one multiply-add
        self.register_buffer("scale", pixel_scale / std)
        self.register_buffer("shift", mean / std)

    def forward(self, image: Tensor) -> Tensor:
        return self.encoder(image.float() * self.scale - self.shift)
