"""Early fusion by a frozen image encoder: pooled features computed once, cached by content.

Features of a frozen encoder depend only on the encoder, its weights and the image
content, so they are cached in memory under that key and reused across refits,
cross-validation folds and tuning trials.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .image import create_image_encoder

_CACHE: OrderedDict[str, np.ndarray] = OrderedDict()
_CACHE_SIZE = 64


def clear_feature_cache() -> None:
    """Forget every cached image embedding."""
    _CACHE.clear()


def content_key(images: np.ndarray) -> str:
    """A hash of the images' shape and bytes."""
    digest = hashlib.sha1(str(images.shape).encode())
    digest.update(np.ascontiguousarray(images).view(np.uint8))
    return digest.hexdigest()


def _weights_key(pretrained: object) -> str:
    if not pretrained:
        return "random"
    path = Path(str(pretrained))
    stat = path.stat()
    return f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"


@dataclass
class FrozenEncoderFeatures:
    """Pooled features of a frozen image encoder, cached by content.

    Parameters
    ----------
    encoder : str or torch.nn.Module
        A timm model name or a module (see :func:`~structunstruct.nn.create_image_encoder`).
    pretrained : False or path
        Local weights of a timm encoder.
    batch_size : int
    """

    encoder: object = "smallcnn"
    pretrained: object = False
    batch_size: int = 256
    module_: torch.nn.Module | None = field(default=None, init=False)
    key_: str = field(default="", init=False)

    def fit(self, images: np.ndarray) -> FrozenEncoderFeatures:
        """Build the frozen encoder for images of shape (n, C, H, W)."""
        self.module_ = create_image_encoder(self.encoder, images.shape[1], self.pretrained).eval()
        for parameter in self.module_.parameters():
            parameter.requires_grad_(False)
        name = self.encoder if isinstance(self.encoder, str) else type(self.encoder).__name__
        self.key_ = f"{name}|{_weights_key(self.pretrained)}"
        return self

    def transform(self, images: np.ndarray) -> np.ndarray:
        """Features of shape (n, out_dim), float32 (from the cache when seen before)."""
        key = f"{self.key_}|{content_key(images)}"
        if isinstance(self.encoder, str) and key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
        with torch.no_grad():
            chunks = [
                self.module_(torch.from_numpy(images[i:i + self.batch_size])).float().numpy()
                for i in range(0, len(images), self.batch_size)
            ]
        features = np.concatenate(chunks).astype(np.float32)
        if isinstance(self.encoder, str):
            _CACHE[key] = features
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
        return features


__all__ = ["FrozenEncoderFeatures", "clear_feature_cache", "content_key"]
