"""Inputs of the deep tabular network: standardized numerics and categorical codes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .validation import check_column_type, check_finite_column, is_categorical


@dataclass
class TabularPreprocessor:
    """Split tabular columns into standardized numerics and integer category codes.

    Category code 0 is reserved (an embedding table has ``cardinality + 1`` rows);
    a level not seen in training is refused at transform, naming the column and the
    levels. An object column whose every value is a number is numeric; one that is
    numeric but for a few strings, or that holds free text or identifiers, is
    refused (:func:`~structunstruct.data.validation.check_column_type`).

    Parameters
    ----------
    columns : sequence of str
        The deep tabular columns.
    """

    columns: Sequence[str]
    numeric_: list[str] = field(default_factory=list, init=False)
    categorical_: list[str] = field(default_factory=list, init=False)
    vocabularies_: dict[str, dict] = field(default_factory=dict, init=False)
    mean_: np.ndarray | None = field(default=None, init=False)
    std_: np.ndarray | None = field(default=None, init=False)

    @property
    def cardinalities(self) -> list[int]:
        """Number of known levels of each categorical column."""
        return [len(self.vocabularies_[c]) for c in self.categorical_]

    def fit(self, X: pd.DataFrame) -> TabularPreprocessor:
        """Learn which columns are numeric, their scaling, and category levels."""
        for c in self.columns:
            check_column_type(X[c], c, role="tabular")
        categorical = {c: is_categorical(X[c]) for c in self.columns}
        self.numeric_ = [c for c in self.columns if not categorical[c]]
        self.categorical_ = [c for c in self.columns if categorical[c]]
        numeric = self._numeric(X)
        self.mean_ = numeric.mean(axis=0)
        std = numeric.std(axis=0)
        self.std_ = np.where(std > 0, std, 1.0)
        self.vocabularies_ = {c: _vocabulary(X[c], c) for c in self.categorical_}
        return self

    def transform(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(numeric, categorical)`` arrays.

        Returns
        -------
        numeric : numpy.ndarray of shape (n_samples, n_numeric), float32
        categorical : numpy.ndarray of shape (n_samples, n_categorical), int64
        """
        numeric = ((self._numeric(X) - self.mean_) / self.std_).astype(np.float32)
        codes = np.zeros((len(X), len(self.categorical_)), dtype=np.int64)
        for j, col in enumerate(self.categorical_):
            codes[:, j] = _codes(X[col], col, self.vocabularies_[col])
        return numeric, codes

    def _numeric(self, X: pd.DataFrame) -> np.ndarray:
        if not self.numeric_:
            return np.zeros((len(X), 0))
        return np.column_stack([check_finite_column(X[c], c, role="tabular") for c in self.numeric_])


def _vocabulary(column: pd.Series, name: str) -> dict:
    if column.isna().any():
        raise ValueError(f"tabular column {name!r} has {int(column.isna().sum())} missing values")
    levels = column.astype(object).unique().tolist()
    levels = sorted(levels, key=lambda v: (str(type(v)), str(v)))
    return {level: i + 1 for i, level in enumerate(levels)}


def _codes(column: pd.Series, name: str, vocabulary: dict) -> np.ndarray:
    if column.isna().any():
        raise ValueError(f"tabular column {name!r} has {int(column.isna().sum())} missing values")
    codes = np.fromiter(
        (vocabulary.get(v, 0) for v in column.astype(object)), dtype=np.int64, count=len(column)
    )
    if (codes == 0).any():
        unseen = sorted({str(v) for v, c in zip(column.astype(object), codes) if c == 0})
        raise ValueError(
            f"tabular column {name!r} has levels {unseen[:5]} not seen in training "
            f"(known: {list(vocabulary)[:10]})"
        )
    return codes
