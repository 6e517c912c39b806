"""Image augmentation on tensors, applied inside the network during training only."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def random_affine(
    images: Tensor, translate: float = 0.1, degrees: float = 10.0, scale: float = 0.1
) -> Tensor:
    """Apply an independent random affine transform to each image.

    Parameters
    ----------
    images : Tensor of shape (n, C, H, W)
    translate : float
        Largest shift as a fraction of the image size (each axis).
    degrees : float
        Largest rotation, in degrees.
    scale : float
        Largest relative zoom in or out.

    Returns
    -------
    Tensor of shape (n, C, H, W)
        Bilinear resampling; pixels shifted in from outside repeat the border.
    """
    n = images.shape[0]
    opts = {"device": images.device, "dtype": torch.float32}
    angle = (torch.rand(n, **opts) * 2 - 1) * math.radians(degrees)
    zoom = 1 + (torch.rand(n, **opts) * 2 - 1) * scale
    shift = (torch.rand(n, 2, **opts) * 2 - 1) * (2 * translate)
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    )
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    out = F.grid_sample(images.float(), grid, mode="bilinear", padding_mode="border",
                        align_corners=False)
    return out.to(images.dtype)


class RandomAffine(nn.Module):
    """Module form of :func:`random_affine`; the identity in evaluation mode."""

    def __init__(self, translate: float = 0.1, degrees: float = 10.0, scale: float = 0.1) -> None:
        super().__init__()
        self.translate, self.degrees, self.scale = translate, degrees, scale

    def forward(self, images: Tensor) -> Tensor:
        if not self.training:
            return images
        return random_affine(images, self.translate, self.degrees, self.scale)
