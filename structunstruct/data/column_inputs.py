"""The arrays of one image or one text column, with their preprocessing fitted once.

:class:`~structunstruct.data.inputs.InputBuilder` holds one of these per image and per
text column; each writes its arrays under its modality key (``"image"`` for a model's
only image column, ``"image:<column>"`` with several; see
:meth:`~structunstruct.data.roles.ColumnRoles.modality_key`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .features import PixelPCA
from .images import load_image_column, missing_images, pretrained_normalization
from .roles import check_no_missing
from .text import WordTokenizer, checked_texts
from .text_features import SentenceEmbeddings

if TYPE_CHECKING:
    from .inputs import ImageNormalizer


def per_column(value: object, columns: Sequence[str], parameter: str, default: object) -> dict[str, object]:
    """A setting given once or as a mapping column -> setting, resolved for every column.

    Parameters
    ----------
    value : object
        One setting for every column, or a mapping from column names to settings
        (columns it leaves out get ``default``).
    columns : sequence of str
        The columns of the role (image or text).
    parameter : str
        The parameter's name, for the error message.
    default : object
        The setting of a column a mapping leaves out.

    Returns
    -------
    dict of str to object

    Raises
    ------
    ValueError
        If a mapping names a column that is not one of ``columns``.
    """
    if not isinstance(value, Mapping):
        return {column: value for column in columns}
    unknown = [key for key in value if key not in columns]
    if unknown:
        raise ValueError(
            f"{parameter} names column(s) {unknown} that are not among the model's columns "
            f"{list(columns)}"
        )
    return {column: value.get(column, default) for column in columns}


def present_rows(column: pd.Series, missing: np.ndarray, role: str, allow: bool, fitting: bool = False) -> np.ndarray:
    """Rows of ``column`` that have a value, shape (n,), bool.

    Raises a ``ValueError`` naming the column on missing cells unless ``allow``, and
    when fitting on a column missing in every row.
    """
    if not allow:
        check_no_missing(missing, column.index, role, str(column.name))
    elif fitting and missing.all():
        raise ValueError(
            f"{role} column {column.name!r} is missing in every training row, so the "
            "model cannot learn from it; drop it from the model"
        )
    return ~missing


def append_numeric(arrays: dict[str, np.ndarray], features: np.ndarray, present: np.ndarray, allow: bool) -> None:
    """Append early-fusion features (and, if missing values are allowed, a missing indicator)."""
    n = len(present)
    columns = [arrays.get("numeric", np.zeros((n, 0), dtype=np.float32)), features]
    if allow:
        columns.append((~present).astype(np.float32)[:, None])
    arrays["numeric"] = np.concatenate(columns, axis=1)
    arrays.setdefault("categorical", np.zeros((n, 0), dtype=np.int64))


def _standardize_moments(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    std = features.std(axis=0)
    return features.mean(axis=0), np.where(std > 0, std, 1.0).astype(np.float32)


@dataclass
class ImageColumnInputs:
    """Arrays of one image column: decoded images (joint fusion) or features (early fusion).

    Parameters
    ----------
    column : str
        The column.
    key : str
        Its modality key: the arrays are ``key`` (images, (n, C, H, W)) and, with
        missing images allowed, ``key + "_present"`` (bool, (n,)).
    image_size : int or (int, int), optional
    fusion : {"joint", "early"}
    image_encoder, pretrained
        The column's encoder and weights (early fusion: the frozen feature extractor;
        pretrained timm weights also set the standardization statistics).
    n_image_features : int
        Principal components kept by PCA in early fusion.
    allow_missing : bool
        Whether rows without an image are accepted.
    image_cache : path, optional
        Directory of memory-mapped decoded images.
    frozen_features : callable, optional
        ``frozen_features(encoder, pretrained)`` gives the early-fusion extractor of a
        frozen encoder (``fit(images)``, ``transform(images)``); the estimators' fusion
        plan passes :class:`~structunstruct.nn.encoders.frozen.FrozenEncoderFeatures`.
    """

    column: str
    key: str
    image_size: int | Sequence[int] | None = None
    fusion: str = "joint"
    image_encoder: object = "smallcnn"
    pretrained: object = False
    n_image_features: int = 32
    allow_missing: bool = False
    image_cache: object = None
    frozen_features: Callable[[object, object], Any] | None = None
    images_: ImageNormalizer | None = field(default=None, init=False)
    image_features_: Any = field(default=None, init=False)
    feature_mean_: np.ndarray | None = field(default=None, init=False)
    feature_std_: np.ndarray | None = field(default=None, init=False)

    def fit(self, column: pd.Series, arrays: dict[str, np.ndarray]) -> None:
        """Learn image (and early-fusion feature) statistics on the rows with an image; add the arrays."""
        from .inputs import ImageNormalizer  # noqa: F811 - defined beside the builder that holds these columns

        present = present_rows(column, missing_images(column), "image", self.allow_missing, fitting=True)
        raw = load_image_column(column[present], self.column, self.image_size, keep_uint8=True,
                                cache_dir=self.image_cache)
        statistics = pretrained_normalization(self.image_encoder, self.pretrained)
        self.images_ = ImageNormalizer().fit(raw, statistics)
        if self.fusion != "early":
            self._add(arrays, raw, present)
            return
        images = self.images_.transform(raw, self.column)
        self.image_features_ = self._feature_extractor().fit(images)
        self.feature_mean_, self.feature_std_ = _standardize_moments(self.image_features_.transform(images))
        self._add(arrays, images, present)

    def transform(self, column: pd.Series, arrays: dict[str, np.ndarray]) -> None:
        """Add the arrays of new data, preprocessed as in training."""
        self._add(arrays, *self._rows(column))

    @property
    def n_features(self) -> int:
        """Columns this image column adds to ``"numeric"`` (early fusion; 0 in joint fusion)."""
        if self.image_features_ is None:
            return 0
        return len(self.feature_mean_) + int(self.allow_missing)

    def _rows(self, column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """Images of the rows that have one, shape (n_present, C, H, W), and the mask.

        Joint fusion gets them as decoded (uint8 for 8-bit images; the network
        standardizes each batch), early fusion standardized for the feature extractor.
        """
        present = present_rows(column, missing_images(column), "image", self.allow_missing)
        if not present.any():
            decoded = self.image_features_ is None and self.images_.pixel_scale_ != 1.0
            return np.zeros((0, *self.images_.shape_), np.uint8 if decoded else np.float32), present
        raw = load_image_column(column[present], self.column, self.image_size, keep_uint8=True,
                                cache_dir=self.image_cache, channels=self.images_.shape_[0])
        if self.image_features_ is None:
            return self.images_.check(raw, self.column), present
        return self.images_.transform(raw, self.column), present

    def _feature_extractor(self) -> Any:
        if isinstance(self.image_encoder, str) and self.image_encoder == "pca":
            return PixelPCA(self.n_image_features)
        if not self.pretrained and isinstance(self.image_encoder, str):
            raise ValueError(
                f"image column {self.column!r}: fusion='early' extracts image features once with a "
                "frozen encoder: give its weights with pretrained='/path/to/checkpoint', or use "
                "image_encoder='pca'"
            )
        if self.frozen_features is None:
            raise ValueError(f"image column {self.column!r}: no frozen-encoder feature extractor was given")
        return self.frozen_features(self.image_encoder, self.pretrained)

    def _add(self, arrays: dict[str, np.ndarray], images: np.ndarray, present: np.ndarray) -> None:
        """Images for joint fusion; standardized early-fusion features appended to numerics.

        ``images`` holds the rows where ``present`` is true; the other rows get zeros
        (and, in early fusion with missing images allowed, a missing-image indicator).
        """
        n = len(present)
        if self.image_features_ is None:
            if present.all():
                arrays[self.key] = images  # as loaded: no copy (a memory map with image_cache)
            else:
                arrays[self.key] = np.zeros((n, *self.images_.shape_), dtype=images.dtype)
                arrays[self.key][present] = images
            if self.allow_missing:
                arrays[f"{self.key}_present"] = present
            return
        features = np.zeros((n, len(self.feature_mean_)), dtype=np.float32)
        if len(images):
            features[present] = (self.image_features_.transform(images) - self.feature_mean_) / self.feature_std_
        append_numeric(arrays, features, present, self.allow_missing)


@dataclass
class TextColumnInputs:
    """Arrays of one text column: word ids (``"bow"``) or frozen sentence embeddings.

    Parameters
    ----------
    column : str
        The column.
    key : str
        Its modality key: the arrays are ``key`` (word ids, int64, (n, max_tokens)) and,
        with missing texts allowed, ``key + "_present"``; with a pretrained encoder the
        standardized embeddings are appended to ``"numeric"`` instead.
    text_encoder : str
        ``"bow"``, ``"minilm"`` or a local sentence-transformers directory.
    allow_missing : bool
        Whether rows without a text are accepted.
    """

    column: str
    key: str
    text_encoder: str = "bow"
    allow_missing: bool = False
    text_: WordTokenizer | None = field(default=None, init=False)
    text_features_: SentenceEmbeddings | None = field(default=None, init=False)
    text_mean_: np.ndarray | None = field(default=None, init=False)
    text_std_: np.ndarray | None = field(default=None, init=False)

    def fit(self, column: pd.Series, arrays: dict[str, np.ndarray], tokenizer: WordTokenizer | None = None) -> None:
        """Learn the vocabulary (or embedding statistics) on the present texts; add the arrays.

        ``tokenizer``: a vocabulary already learned (shared by several text columns).
        """
        present = self.present(column, fitting=True)
        if self.text_encoder == "bow":
            self.text_ = tokenizer or WordTokenizer().fit(column[present], self.column)
        else:
            texts = checked_texts(column[present], self.column)
            self.text_features_ = SentenceEmbeddings(self.text_encoder).fit(texts)
            self.text_mean_, self.text_std_ = _standardize_moments(self.text_features_.transform(texts))
        self._add(arrays, column, present)

    def transform(self, column: pd.Series, arrays: dict[str, np.ndarray]) -> None:
        """Add the arrays of new data."""
        self._add(arrays, column, self.present(column))

    def present(self, column: pd.Series, fitting: bool = False) -> np.ndarray:
        """Rows with a text, shape (n,), bool (missing ones raise unless allowed)."""
        return present_rows(column, column.isna().to_numpy(dtype=bool), "text", self.allow_missing, fitting)

    @property
    def n_features(self) -> int:
        """Columns this text column adds to ``"numeric"`` (pretrained embeddings; 0 for ``"bow"``)."""
        if self.text_features_ is None:
            return 0
        return self.text_features_.dim_ + int(self.allow_missing)

    def _add(self, arrays: dict[str, np.ndarray], column: pd.Series, present: np.ndarray) -> None:
        """Word ids (no tokens where the text is missing) and, if allowed, the presence mask;
        or, with a pretrained encoder, standardized embeddings appended to the numerics."""
        if self.text_features_ is not None:
            embeddings = np.zeros((len(column), self.text_features_.dim_), dtype=np.float32)
            if present.any():
                raw = self.text_features_.transform(checked_texts(column[present], self.column))
                embeddings[present] = (raw - self.text_mean_) / self.text_std_
            append_numeric(arrays, embeddings, present, self.allow_missing)
            return
        ids = np.zeros((len(column), self.text_.max_tokens), dtype=np.int64)
        ids[present] = self.text_.transform(column[present], self.column)
        arrays[self.key] = ids
        if self.allow_missing:
            arrays[f"{self.key}_present"] = present
