"""From a DataFrame to per-modality arrays, with every preprocessing step fitted once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .design import StructuredDesign
from .features import FrozenEncoderFeatures, PixelPCA
from .images import load_image_column
from .roles import ColumnRoles, check_columns_present, check_is_dataframe
from .tabular import TabularPreprocessor
from .text import WordTokenizer


@dataclass
class ImageNormalizer:
    """Per-channel standardization learned on the training images."""

    mean_: np.ndarray | None = field(default=None, init=False)
    std_: np.ndarray | None = field(default=None, init=False)
    shape_: tuple[int, ...] | None = field(default=None, init=False)

    def fit(self, images: np.ndarray) -> ImageNormalizer:
        """Learn channel means/stds from images of shape (n, C, H, W)."""
        self.mean_ = images.mean(axis=(0, 2, 3)).astype(np.float32)
        std = images.std(axis=(0, 2, 3)).astype(np.float32)
        self.std_ = np.where(std > 0, std, 1.0).astype(np.float32)
        self.shape_ = tuple(images.shape[1:])
        return self

    def transform(self, images: np.ndarray, column: str) -> np.ndarray:
        """Standardize; the channel count and size must match training."""
        if tuple(images.shape[1:]) != self.shape_:
            raise ValueError(
                f"image column {column!r}: images have shape {tuple(images.shape[1:])} (C, H, W) "
                f"but the model was trained on {self.shape_}; pass image_size to resize"
            )
        return (images - self.mean_[None, :, None, None]) / self.std_[None, :, None, None]


@dataclass
class InputBuilder:
    """Turn a DataFrame into the arrays each part of the network reads.

    Parameters
    ----------
    roles : ColumnRoles
    image_size : int or (int, int), optional
    fusion : {"joint", "early"}
        With ``"early"`` the images are replaced by features extracted once (PCA of the
        pixels when ``image_encoder="pca"``, else a frozen ``image_encoder`` with
        ``pretrained`` weights), standardized and appended to ``"numeric"``.
    image_encoder, pretrained
        The early-fusion feature extractor.
    n_image_features : int
        Principal components kept by PCA.

    The arrays are ``"structured"`` (standardized design, float64), ``"numeric"`` and
    ``"categorical"`` (deep tabular inputs), ``"image"`` (float32, (n, C, H, W)) and
    ``"text"`` (word ids, int64, (n, max_tokens)).
    """

    roles: ColumnRoles
    image_size: int | Sequence[int] | None = None
    fusion: str = "joint"
    image_encoder: object = "smallcnn"
    pretrained: object = False
    n_image_features: int = 32
    design_: StructuredDesign | None = field(default=None, init=False)
    tabular_: TabularPreprocessor | None = field(default=None, init=False)
    images_: ImageNormalizer | None = field(default=None, init=False)
    text_: WordTokenizer | None = field(default=None, init=False)
    image_features_: PixelPCA | FrozenEncoderFeatures | None = field(default=None, init=False)
    feature_mean_: np.ndarray | None = field(default=None, init=False)
    feature_std_: np.ndarray | None = field(default=None, init=False)

    def fit_transform(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        """Fit every preprocessing step on ``X`` and return its arrays."""
        self.design_ = StructuredDesign(self.roles.structured)
        arrays = {"structured": self.design_.fit_transform(X)}
        if self.roles.tabular:
            self.tabular_ = TabularPreprocessor(self.roles.tabular).fit(X)
            arrays["numeric"], arrays["categorical"] = self.tabular_.transform(X)
        if self.roles.image is not None:
            raw = load_image_column(X[self.roles.image], self.roles.image, self.image_size)
            self.images_ = ImageNormalizer().fit(raw)
            images = self.images_.transform(raw, self.roles.image)
            if self.fusion == "early":
                self.image_features_ = self._feature_extractor().fit(images)
                features = self.image_features_.transform(images)
                self.feature_mean_ = features.mean(axis=0)
                self.feature_std_ = np.where(features.std(axis=0) > 0, features.std(axis=0), 1.0)
            self._add_images(arrays, images)
        if self.roles.text is not None:
            self.text_ = WordTokenizer().fit(X[self.roles.text], self.roles.text)
            arrays["text"] = self.text_.transform(X[self.roles.text], self.roles.text)
        return arrays

    def transform(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        """Arrays of new data, preprocessed as in training."""
        check_is_dataframe(X)
        check_columns_present(X, list(self.roles.used_columns), role="required")
        arrays = self._tabular_arrays(X)
        if self.roles.image is not None:
            raw = load_image_column(X[self.roles.image], self.roles.image, self.image_size)
            self._add_images(arrays, self.images_.transform(raw, self.roles.image))
        if self.roles.text is not None:
            arrays["text"] = self.text_.transform(X[self.roles.text], self.roles.text)
        return arrays

    def _feature_extractor(self) -> PixelPCA | FrozenEncoderFeatures:
        if self.image_encoder == "pca":
            return PixelPCA(self.n_image_features)
        if not self.pretrained and isinstance(self.image_encoder, str):
            raise ValueError(
                "fusion='early' extracts image features once with a frozen encoder: give its "
                "weights with pretrained='/path/to/checkpoint', or use image_encoder='pca'"
            )
        return FrozenEncoderFeatures(self.image_encoder, self.pretrained)

    def _add_images(self, arrays: dict[str, np.ndarray], images: np.ndarray) -> None:
        """Images for joint fusion; standardized early-fusion features appended to numerics."""
        if self.image_features_ is None:
            arrays["image"] = images
            return
        features = (self.image_features_.transform(images) - self.feature_mean_) / self.feature_std_
        numeric = arrays.get("numeric", np.zeros((len(images), 0), dtype=np.float32))
        arrays["numeric"] = np.concatenate([numeric, features.astype(np.float32)], axis=1)
        arrays.setdefault("categorical", np.zeros((len(images), 0), dtype=np.int64))

    @property
    def n_numeric(self) -> int:
        """Numeric inputs of the deep tabular network (early image features included)."""
        n = len(self.tabular_.numeric_) if self.tabular_ is not None else 0
        if self.image_features_ is not None:
            n += len(self.feature_mean_)
        return n

    @property
    def cardinalities(self) -> list[int]:
        """Levels of each categorical input of the deep tabular network."""
        return self.tabular_.cardinalities if self.tabular_ is not None else []

    @property
    def in_chans(self) -> int:
        """Channels of the training images."""
        return int(self.images_.shape_[0])

    def _tabular_arrays(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        arrays = {"structured": self.design_.transform(X)}
        if self.tabular_ is not None:
            arrays["numeric"], arrays["categorical"] = self.tabular_.transform(X)
        return arrays
