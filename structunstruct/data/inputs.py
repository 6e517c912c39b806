"""From a DataFrame to per-modality arrays, with every preprocessing step fitted once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..nn.encoders.image import pretrained_normalization
from .design import StructuredDesign
from .features import FrozenEncoderFeatures, PixelPCA
from .images import load_image_column, missing_images
from .roles import ColumnRoles, check_columns_present, check_is_dataframe, check_no_missing
from .tabular import TabularPreprocessor
from .text import WordTokenizer, checked_texts
from .text_features import SentenceEmbeddings


@dataclass
class ImageNormalizer:
    """Per-channel standardization learned on the training images.

    8-bit images are read on the [0, 1] scale (``pixel_scale = 1/255``), other arrays on
    their own (``pixel_scale = 1``); statistics are accumulated channel by channel, so
    uint8 images are never copied to float as a whole.
    """

    mean_: np.ndarray | None = field(default=None, init=False)
    std_: np.ndarray | None = field(default=None, init=False)
    shape_: tuple[int, ...] | None = field(default=None, init=False)
    pixel_scale_: float = field(default=1.0, init=False)

    def fit(self, images: np.ndarray, statistics: tuple[Sequence[float], Sequence[float]] | None = None
            ) -> ImageNormalizer:
        """Learn channel means/stds from images of shape (n, C, H, W).

        Parameters
        ----------
        images : ndarray of shape (n, C, H, W)
        statistics : (mean, std), optional
            Fixed per-channel statistics on the [0, 1] pixel scale instead of learned
            ones: those a pretrained encoder expects. With another number of channels
            than given (a grayscale image for an RGB network, whose first convolution
            is summed over RGB), the channels take the average mean and std (exact
            when the RGB statistics are equal) or, for more channels, cycle through them.
        """
        self.pixel_scale_ = 1.0 / 255.0 if images.dtype == np.uint8 else 1.0
        n_channels = images.shape[1]
        if statistics is not None:
            mean = _per_channel(statistics[0], n_channels)
            std = _per_channel(statistics[1], n_channels)
        else:
            mean, std = _channel_moments(images, self.pixel_scale_)
        self.mean_ = np.asarray(mean, dtype=np.float32)
        self.std_ = np.where(np.asarray(std) > 0, std, 1.0).astype(np.float32)
        self.shape_ = tuple(images.shape[1:])
        return self

    def check(self, images: np.ndarray, column: str) -> np.ndarray:
        """The images, after checking that channels and size match training."""
        if tuple(images.shape[1:]) != self.shape_:
            raise ValueError(
                f"image column {column!r}: images have shape {tuple(images.shape[1:])} (C, H, W) "
                f"but the model was trained on {self.shape_}; pass image_size to resize"
            )
        return images

    def transform(self, images: np.ndarray, column: str) -> np.ndarray:
        """Standardized float32 images; the channel count and size must match training."""
        self.check(images, column)
        scaled = scaled_pixels(images, self.pixel_scale_)
        return (scaled - self.mean_[None, :, None, None]) / self.std_[None, :, None, None]


#: Pixel values converted to float64 at a time by :func:`_channel_moments` (128 MB).
_MOMENT_CHUNK_VALUES = 2**24


def scaled_pixels(images: np.ndarray, scale: float) -> np.ndarray:
    """Pixels on the [0, 1] scale as float32: ``x / 255`` for 8-bit images (``scale = 1/255``).

    The same correctly rounded float32 division as :func:`load_image_column` without
    ``keep_uint8`` and the network's in-batch standardization, so statistics and
    standardized pixels do not depend on how the images are stored.
    """
    values = np.asarray(images, dtype=np.float32)
    return values if scale == 1.0 else values / np.float32(round(1.0 / scale))


def _channel_moments(images: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of (n, C, H, W) images times ``scale``.

    Accumulated over chunks of rows (Chan et al.'s pairwise update of means and
    squared deviations), so memory-mapped images larger than memory are read once,
    a bounded number of rows at a time.
    """
    n, n_channels = images.shape[:2]
    per_image = max(1, int(np.prod(images.shape[2:])))
    rows = max(1, _MOMENT_CHUNK_VALUES // (per_image * max(n_channels, 1)))
    count, mean, m2 = 0, np.zeros(n_channels), np.zeros(n_channels)
    for start in range(0, n, rows):
        chunk = scaled_pixels(images[start:start + rows], scale).astype(np.float64)
        values = chunk.transpose(1, 0, 2, 3).reshape(n_channels, -1)
        k = values.shape[1]
        chunk_mean = values.mean(axis=1)
        chunk_m2 = ((values - chunk_mean[:, None]) ** 2).sum(axis=1)
        delta = chunk_mean - mean
        total = count + k
        mean = mean + delta * (k / total)
        m2 = m2 + chunk_m2 + delta**2 * (count * k / total)
        count = total
    return mean, np.sqrt(m2 / max(count, 1))


def _per_channel(values: Sequence[float], n_channels: int) -> np.ndarray:
    """Per-channel statistics for ``n_channels`` channels from those of another count."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == n_channels:
        return values
    if n_channels == 1:
        return values.mean(keepdims=True)
    return np.resize(values, n_channels)


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
        The image encoder (the early-fusion feature extractor). With pretrained weights
        of a timm model, images are standardized with the statistics those weights
        expect (timm's pretrained data config, e.g. ImageNet's), otherwise with
        statistics of the training images.
    n_image_features : int
        Principal components kept by PCA.
    missing_modalities : {"error", "allow"}
        With ``"error"`` a missing (``None``/``NaN``) image or text cell raises a
        ``ValueError`` naming the column and the rows. With ``"allow"`` such rows are
        kept: their image is all zeros (the training mean after standardization), their
        text has no tokens, and ``"image_present"`` / ``"text_present"`` (bool, (n,))
        say which rows have one. Standardization and early-fusion features are learned
        on the rows that have an image; in early fusion a missing image gets zero
        features and an indicator column (1 = missing) is appended to ``"numeric"``.
        A column missing in every training row is an error either way.
    image_cache : path, optional
        Directory where decoded images are kept as memory-mapped ``.npy`` files
        (:func:`~structunstruct.data.images.load_image_column`): for image columns
        larger than memory, and to decode a column once across refits. Joint fusion
        then reads batches from the file; early fusion still standardizes all images
        in memory, and rows with a missing image are filled in a copy in memory.
    text_encoder : str
        ``"bow"``: word ids for a trainable bag-of-words network (``"text"``). Otherwise
        ``"minilm"`` or a local sentence-transformers directory: frozen sentence
        embeddings, computed once, standardized and appended to ``"numeric"`` (with a
        missing-text indicator when missing texts are allowed).

    The arrays are ``"structured"`` (standardized design, float64), ``"numeric"`` and
    ``"categorical"`` (deep tabular inputs), ``"image"`` (float32, (n, C, H, W)) and
    ``"text"`` (word ids, int64, (n, max_tokens)), plus the presence masks above.
    """

    roles: ColumnRoles
    image_size: int | Sequence[int] | None = None
    fusion: str = "joint"
    image_encoder: object = "smallcnn"
    pretrained: object = False
    n_image_features: int = 32
    missing_modalities: str = "error"
    text_encoder: str = "bow"
    image_cache: object = None
    design_: StructuredDesign | None = field(default=None, init=False)
    tabular_: TabularPreprocessor | None = field(default=None, init=False)
    images_: ImageNormalizer | None = field(default=None, init=False)
    text_: WordTokenizer | None = field(default=None, init=False)
    image_features_: PixelPCA | FrozenEncoderFeatures | None = field(default=None, init=False)
    feature_mean_: np.ndarray | None = field(default=None, init=False)
    feature_std_: np.ndarray | None = field(default=None, init=False)
    text_features_: SentenceEmbeddings | None = field(default=None, init=False)
    text_mean_: np.ndarray | None = field(default=None, init=False)
    text_std_: np.ndarray | None = field(default=None, init=False)

    def fit_transform(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        """Fit every preprocessing step on ``X`` and return its arrays."""
        self.design_ = StructuredDesign(self.roles.structured)
        arrays = {"structured": self.design_.fit_transform(X)}
        if self.roles.tabular:
            self.tabular_ = TabularPreprocessor(self.roles.tabular).fit(X)
            arrays["numeric"], arrays["categorical"] = self.tabular_.transform(X)
        if self.roles.image is not None:
            self._add_images(arrays, *self._fit_images(X[self.roles.image]))
        if self.roles.text is not None:
            column = X[self.roles.text]
            present = self._present(column.isna().to_numpy(dtype=bool), column, "text", fitting=True)
            if self.text_encoder == "bow":
                self.text_ = WordTokenizer().fit(column[present], self.roles.text)
            else:
                self._fit_text_features(column[present])
            self._add_text(arrays, column, present)
        return arrays

    def transform(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        """Arrays of new data, preprocessed as in training."""
        check_is_dataframe(X)
        check_columns_present(X, list(self.roles.used_columns), role="required")
        arrays = self._tabular_arrays(X)
        if self.roles.image is not None:
            self._add_images(arrays, *self._image_rows(X[self.roles.image]))
        if self.roles.text is not None:
            column = X[self.roles.text]
            self._add_text(arrays, column, self._present(column.isna().to_numpy(dtype=bool), column, "text"))
        return arrays

    @property
    def allows_missing(self) -> bool:
        """Whether rows without an image or text are accepted."""
        return self.missing_modalities == "allow"

    def _present(self, missing: np.ndarray, column: pd.Series, role: str, fitting: bool = False) -> np.ndarray:
        """Rows that have a value; raises on missing ones unless they are allowed."""
        if not self.allows_missing:
            check_no_missing(missing, column.index, role, str(column.name))
        elif fitting and missing.all():
            raise ValueError(
                f"{role} column {column.name!r} is missing in every training row, so the "
                "model cannot learn from it; drop it from the model"
            )
        return ~missing

    def _fit_images(self, column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """Learn image (and early-fusion feature) statistics on the rows with an image."""
        present = self._present(missing_images(column), column, "image", fitting=True)
        raw = load_image_column(column[present], self.roles.image, self.image_size, keep_uint8=True,
                                cache_dir=self.image_cache)
        self.images_ = ImageNormalizer().fit(raw, pretrained_normalization(self.image_encoder, self.pretrained))
        if self.fusion != "early":
            return raw, present
        images = self.images_.transform(raw, self.roles.image)
        self.image_features_ = self._feature_extractor().fit(images)
        features = self.image_features_.transform(images)
        self.feature_mean_ = features.mean(axis=0)
        self.feature_std_ = np.where(features.std(axis=0) > 0, features.std(axis=0), 1.0)
        return images, present

    def _image_rows(self, column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """Images of the rows that have one, shape (n_present, C, H, W), and the mask.

        Joint fusion gets them as decoded (uint8 for 8-bit images; the network
        standardizes each batch), early fusion standardized for the feature extractor.
        """
        present = self._present(missing_images(column), column, "image")
        if not present.any():
            decoded = self.image_features_ is None and self.images_.pixel_scale_ != 1.0
            return np.zeros((0, *self.images_.shape_), np.uint8 if decoded else np.float32), present
        raw = load_image_column(column[present], self.roles.image, self.image_size, keep_uint8=True,
                                cache_dir=self.image_cache, channels=self.images_.shape_[0])
        if self.image_features_ is None:
            return self.images_.check(raw, self.roles.image), present
        return self.images_.transform(raw, self.roles.image), present

    def _fit_text_features(self, texts: pd.Series) -> None:
        """Frozen sentence embeddings and their standardization, learned on the present texts."""
        self.text_features_ = SentenceEmbeddings(self.text_encoder).fit(checked_texts(texts, self.roles.text))
        embeddings = self.text_features_.transform(checked_texts(texts, self.roles.text))
        self.text_mean_ = embeddings.mean(axis=0)
        std = embeddings.std(axis=0)
        self.text_std_ = np.where(std > 0, std, 1.0).astype(np.float32)

    def _add_text(self, arrays: dict[str, np.ndarray], column: pd.Series, present: np.ndarray) -> None:
        """Word ids (no tokens where the text is missing) and, if allowed, the presence mask;
        or, with a pretrained encoder, standardized embeddings appended to the numerics."""
        if self.text_features_ is not None:
            n = len(column)
            embeddings = np.zeros((n, self.text_features_.dim_), dtype=np.float32)
            if present.any():
                raw = self.text_features_.transform(checked_texts(column[present], self.roles.text))
                embeddings[present] = (raw - self.text_mean_) / self.text_std_
            columns = [arrays.get("numeric", np.zeros((n, 0), dtype=np.float32)), embeddings]
            if self.allows_missing:
                columns.append((~present).astype(np.float32)[:, None])
            arrays["numeric"] = np.concatenate(columns, axis=1)
            arrays.setdefault("categorical", np.zeros((n, 0), dtype=np.int64))
            return
        ids = np.zeros((len(column), self.text_.max_tokens), dtype=np.int64)
        ids[present] = self.text_.transform(column[present], self.roles.text)
        arrays["text"] = ids
        if self.allows_missing:
            arrays["text_present"] = present

    def _feature_extractor(self) -> PixelPCA | FrozenEncoderFeatures:
        if self.image_encoder == "pca":
            return PixelPCA(self.n_image_features)
        if not self.pretrained and isinstance(self.image_encoder, str):
            raise ValueError(
                "fusion='early' extracts image features once with a frozen encoder: give its "
                "weights with pretrained='/path/to/checkpoint', or use image_encoder='pca'"
            )
        return FrozenEncoderFeatures(self.image_encoder, self.pretrained)

    def _add_images(self, arrays: dict[str, np.ndarray], images: np.ndarray, present: np.ndarray) -> None:
        """Images for joint fusion; standardized early-fusion features appended to numerics.

        ``images`` holds the rows where ``present`` is true; the other rows get zeros
        (and, in early fusion with missing images allowed, a missing-image indicator).
        """
        n = len(present)
        if self.image_features_ is None:
            if present.all():
                arrays["image"] = images  # as loaded: no copy (a memory map with image_cache)
            else:
                arrays["image"] = np.zeros((n, *self.images_.shape_), dtype=images.dtype)
                arrays["image"][present] = images
            if self.allows_missing:
                arrays["image_present"] = present
            return
        features = np.zeros((n, len(self.feature_mean_)), dtype=np.float32)
        if len(images):
            features[present] = (self.image_features_.transform(images) - self.feature_mean_) / self.feature_std_
        columns = [arrays.get("numeric", np.zeros((n, 0), dtype=np.float32)), features]
        if self.allows_missing:
            columns.append((~present).astype(np.float32)[:, None])
        arrays["numeric"] = np.concatenate(columns, axis=1)
        arrays.setdefault("categorical", np.zeros((n, 0), dtype=np.int64))

    @property
    def n_numeric(self) -> int:
        """Numeric inputs of the deep tabular network (early image features included)."""
        n = len(self.tabular_.numeric_) if self.tabular_ is not None else 0
        if self.image_features_ is not None:
            n += len(self.feature_mean_) + int(self.allows_missing)
        if self.text_features_ is not None:
            n += self.text_features_.dim_ + int(self.allows_missing)
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

