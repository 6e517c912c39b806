"""From a DataFrame to per-modality arrays, with every preprocessing step fitted once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .column_inputs import ImageColumnInputs, TextColumnInputs, per_column
from .design import StructuredDesign
from .roles import ColumnRoles, check_columns_present, check_is_dataframe
from .tabular import TabularPreprocessor
from .text import WordTokenizer
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

    Every image and text column is a modality of its own, preprocessed by its own
    :class:`~structunstruct.data.column_inputs.ImageColumnInputs` /
    :class:`~structunstruct.data.column_inputs.TextColumnInputs` and written under
    its modality key (:meth:`~structunstruct.data.roles.ColumnRoles.modality_key`):
    ``"image"`` / ``"text"`` for a model's only image / text column,
    ``"image:<column>"`` / ``"text:<column>"`` with several.

    Parameters
    ----------
    roles : ColumnRoles
    image_size : int or (int, int) or mapping of column to size, optional
        Resize the images (of every image column, or per column).
    fusion : {"joint", "early"}
        With ``"early"`` the images are replaced by features extracted once (PCA of the
        pixels when ``image_encoder="pca"``, else a frozen ``image_encoder`` with
        ``pretrained`` weights), standardized and appended to ``"numeric"``, column by
        column.
    image_encoder, pretrained
        The image encoder (the early-fusion feature extractor) and its weights, for
        every image column or as a mapping column -> setting. With pretrained weights
        of a timm model, images are standardized with the statistics those weights
        expect (timm's pretrained data config, e.g. ImageNet's), otherwise with
        statistics of the column's training images.
    n_image_features : int
        Principal components kept by PCA.
    missing_modalities : {"error", "allow"}
        With ``"error"`` a missing (``None``/``NaN``) image or text cell raises a
        ``ValueError`` naming the column and the rows. With ``"allow"`` such rows are
        kept: their image is all zeros (the training mean after standardization), their
        text has no tokens, and ``key + "_present"`` (bool, (n,); ``"image_present"``
        for a single image column) says which rows have one. Standardization and
        early-fusion features are learned on the rows that have an image; in early
        fusion a missing image gets zero features and an indicator column (1 = missing)
        is appended to ``"numeric"``. Each column is missing on its own rows. A column
        missing in every training row is an error either way.
    image_cache : path, optional
        Directory where decoded images are kept as memory-mapped ``.npy`` files
        (:func:`~structunstruct.data.images.load_image_column`; one file per column,
        named by its content): for image columns larger than memory, and to decode a
        column once across refits. Joint fusion then reads batches from the file;
        early fusion still standardizes all images in memory, and rows with a missing
        image are filled in a copy in memory.
    text_encoder : str
        ``"bow"``: word ids for a trainable bag-of-words network (key ``"text"``).
        Otherwise ``"minilm"`` or a local sentence-transformers directory: frozen
        sentence embeddings, computed once, standardized and appended to ``"numeric"``
        (with a missing-text indicator when missing texts are allowed).
    share_vocabulary : bool
        With several ``"bow"`` text columns, learn one vocabulary on the texts of all
        of them (for one shared text encoder) instead of one per column.
    frozen_features : callable, optional
        The early-fusion extractor of a frozen image encoder, ``frozen_features(encoder,
        pretrained)``, given by the estimators' fusion plan (the data layer builds no network).

    The arrays are ``"structured"`` (standardized design, float64), ``"numeric"`` and
    ``"categorical"`` (deep tabular inputs), one image array (float32 or uint8,
    (n, C, H, W)) per joint-fusion image column and one word-id array (int64,
    (n, max_tokens)) per bag-of-words text column, plus the presence masks above.
    Early-fusion features are appended to ``"numeric"`` after the tabular columns,
    image columns first, each in column order.
    """

    roles: ColumnRoles
    image_size: object = None
    fusion: str = "joint"
    image_encoder: object = "smallcnn"
    pretrained: object = False
    n_image_features: int = 32
    missing_modalities: str = "error"
    text_encoder: str = "bow"
    image_cache: object = None
    share_vocabulary: bool = False
    frozen_features: Callable[[object, object], Any] | None = None
    design_: StructuredDesign | None = field(default=None, init=False)
    tabular_: TabularPreprocessor | None = field(default=None, init=False)
    image_inputs_: dict[str, ImageColumnInputs] = field(default_factory=dict, init=False)
    text_inputs_: dict[str, TextColumnInputs] = field(default_factory=dict, init=False)

    def fit_transform(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        """Fit every preprocessing step on ``X`` and return its arrays."""
        self.design_ = StructuredDesign(self.roles.structured)
        arrays = {"structured": self.design_.fit_transform(X)}
        if self.roles.tabular:
            self.tabular_ = TabularPreprocessor(self.roles.tabular).fit(X)
            arrays["numeric"], arrays["categorical"] = self.tabular_.transform(X)
        self.image_inputs_ = self._image_columns()
        self.text_inputs_ = {
            column: TextColumnInputs(column, key, self.text_encoder, self.allows_missing)
            for column, key in self.roles.text_keys.items()
        }
        for column, inputs in self.image_inputs_.items():
            inputs.fit(X[column], arrays)
        tokenizer = self._shared_vocabulary(X)
        for column, inputs in self.text_inputs_.items():
            inputs.fit(X[column], arrays, tokenizer)
        return arrays

    def _shared_vocabulary(self, X: pd.DataFrame) -> WordTokenizer | None:
        """One vocabulary learned on the present texts of every text column, when shared."""
        if not self.share_vocabulary or len(self.text_inputs_) < 2 or self.text_encoder != "bow":
            return None
        texts = [X[column][inputs.present(X[column], fitting=True)] for column, inputs in self.text_inputs_.items()]
        return WordTokenizer().fit(pd.concat(texts, ignore_index=True), ", ".join(self.text_inputs_))

    def transform(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        """Arrays of new data, preprocessed as in training."""
        check_is_dataframe(X)
        check_columns_present(X, list(self.roles.used_columns), role="required")
        arrays = self._tabular_arrays(X)
        for column, inputs in [*self.image_inputs_.items(), *self.text_inputs_.items()]:
            inputs.transform(X[column], arrays)
        return arrays

    def _image_columns(self) -> dict[str, ImageColumnInputs]:
        """One input step per image column, with its own size, encoder and weights."""
        columns = self.roles.image
        sizes = per_column(self.image_size, columns, "image_size", None)
        encoders = per_column(self.image_encoder, columns, "image_encoder", "smallcnn")
        weights = per_column(self.pretrained, columns, "pretrained", False)
        return {
            column: ImageColumnInputs(
                column, key, sizes[column], self.fusion, encoders[column], weights[column],
                self.n_image_features, self.allows_missing, self.image_cache, self.frozen_features,
            )
            for column, key in self.roles.image_keys.items()
        }

    @property
    def allows_missing(self) -> bool:
        """Whether rows without an image or text are accepted."""
        return self.missing_modalities == "allow"

    @property
    def n_numeric(self) -> int:
        """Numeric inputs of the deep tabular network (early image/text features included)."""
        n = len(self.tabular_.numeric_) if self.tabular_ is not None else 0
        columns = [*self.image_inputs_.values(), *self.text_inputs_.values()]
        return n + sum(inputs.n_features for inputs in columns)

    @property
    def cardinalities(self) -> list[int]:
        """Levels of each categorical input of the deep tabular network."""
        return self.tabular_.cardinalities if self.tabular_ is not None else []

    # -- the first image / text column's fitted steps (the only one in a single-column model)
    @property
    def images_(self) -> ImageNormalizer | None:
        """Standardization of the first image column."""
        return self._first(self.image_inputs_, "images_")

    @property
    def image_features_(self) -> Any:
        """Early-fusion feature extractor of the first image column."""
        return self._first(self.image_inputs_, "image_features_")

    @property
    def feature_mean_(self) -> np.ndarray | None:
        """Mean of the first image column's early-fusion features."""
        return self._first(self.image_inputs_, "feature_mean_")

    @property
    def feature_std_(self) -> np.ndarray | None:
        """Standard deviation of the first image column's early-fusion features."""
        return self._first(self.image_inputs_, "feature_std_")

    @property
    def text_(self) -> WordTokenizer | None:
        """Tokenizer of the first text column (``"bow"``)."""
        return self._first(self.text_inputs_, "text_")

    @property
    def text_features_(self) -> SentenceEmbeddings | None:
        """Frozen sentence embeddings of the first text column."""
        return self._first(self.text_inputs_, "text_features_")

    @property
    def in_chans(self) -> int:
        """Channels of the first image column's training images."""
        return int(self.images_.shape_[0])

    @staticmethod
    def _first(columns: dict, attribute: str) -> object:
        return getattr(next(iter(columns.values())), attribute) if columns else None

    def _tabular_arrays(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        arrays = {"structured": self.design_.transform(X)}
        if self.tabular_ is not None:
            arrays["numeric"], arrays["categorical"] = self.tabular_.transform(X)
        return arrays
