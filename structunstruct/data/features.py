"""Early fusion by PCA: principal components of the pixels, learned on training images.

The other early-fusion extractor, a frozen encoder, is a torch network
(:class:`~structunstruct.nn.encoders.frozen.FrozenEncoderFeatures`); the estimators'
fusion plan hands it to the input builder, so the data layer imports no networks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class PixelPCA:
    """Principal components of the flattened pixels, learned on training images.

    Parameters
    ----------
    n_components : int
    """

    n_components: int = 32
    mean_: np.ndarray | None = field(default=None, init=False)
    components_: np.ndarray | None = field(default=None, init=False)

    def fit(self, images: np.ndarray) -> PixelPCA:
        """Learn the components from images of shape (n, C, H, W)."""
        flat = images.reshape(len(images), -1).astype(np.float64)
        self.mean_ = flat.mean(axis=0)
        k = int(min(self.n_components, flat.shape[0] - 1, flat.shape[1]))
        _, _, vt = np.linalg.svd(flat - self.mean_, full_matrices=False)
        self.components_ = vt[:k]
        return self

    def transform(self, images: np.ndarray) -> np.ndarray:
        """Scores of shape (n, n_components), float32."""
        flat = images.reshape(len(images), -1).astype(np.float64)
        return ((flat - self.mean_) @ self.components_.T).astype(np.float32)


__all__ = ["PixelPCA"]
