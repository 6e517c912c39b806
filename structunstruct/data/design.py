"""The structured design matrix: linear terms and categorical dummies."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .formula import Term
from .validation import check_finite_column, is_categorical


@dataclass
class _TermEncoding:
    column: str
    levels: list | None = None  # None for a numeric column

    @property
    def names(self) -> list[str]:
        if self.levels is None:
            return [self.column]
        return [f"{self.column}[{level}]" for level in self.levels[1:]]


@dataclass
class StructuredDesign:
    """Build the design matrix of the structured terms.

    Numeric columns enter as they are; categorical columns (object, category, bool,
    string) are dummy-coded against their first level, named ``column[level]``.
    The design is learned from the training data by :meth:`fit`; :meth:`transform`
    applies it to new data. Columns are also centred and scaled (``center_``,
    ``scale_``) for optimisation; coefficients are reported on the original scale.

    Parameters
    ----------
    terms : sequence of Term
        The structured terms; only ``kind == "linear"`` is supported here.
    """

    terms: Sequence[Term]
    encodings_: list[_TermEncoding] = field(default_factory=list, init=False)
    center_: np.ndarray | None = field(default=None, init=False)
    scale_: np.ndarray | None = field(default=None, init=False)

    @property
    def feature_names(self) -> list[str]:
        """Names of the design columns (``col`` or ``col[level]``)."""
        return [name for enc in self.encodings_ for name in enc.names]

    @property
    def n_features(self) -> int:
        """Number of design columns."""
        return len(self.feature_names)

    def fit(self, X: pd.DataFrame) -> StructuredDesign:
        """Learn levels and scaling from the training frame."""
        self.encodings_ = [self._fit_term(X, term) for term in self.terms]
        raw = self._raw_design(X)
        self.center_ = raw.mean(axis=0) if raw.shape[1] else np.zeros(0)
        scale = raw.std(axis=0) if raw.shape[1] else np.ones(0)
        constant = scale <= 1e-12 * np.maximum(1.0, np.abs(self.center_))
        if constant.any():
            names = [n for n, c in zip(self.feature_names, constant) if c]
            raise ValueError(f"structured column(s) {names} are constant in the training data")
        self.scale_ = scale
        return self

    def transform(self, X: pd.DataFrame, standardize: bool = True) -> np.ndarray:
        """Design matrix of shape (n_samples, n_features), float64."""
        raw = self._raw_design(X)
        if not standardize:
            return raw
        return (raw - self.center_) / self.scale_

    def _fit_term(self, X: pd.DataFrame, term: Term) -> _TermEncoding:
        if term.kind != "linear":
            raise ValueError(
                f"structured term {str(term)!r}: smooth terms s(col) are not supported by "
                "this estimator yet; use a linear term"
            )
        column = X[term.column]
        if is_categorical(column):
            if column.isna().any():
                raise ValueError(
                    f"structured column {term.column!r} has {int(column.isna().sum())} missing values"
                )
            levels = _levels(column)
            if len(levels) < 2:
                raise ValueError(
                    f"structured column {term.column!r} has a single level {levels}; "
                    "a constant column has no effect to estimate"
                )
            return _TermEncoding(term.column, levels)
        check_finite_column(column, term.column, role="structured")
        return _TermEncoding(term.column)

    def _raw_design(self, X: pd.DataFrame) -> np.ndarray:
        blocks = [self._encode(X, enc) for enc in self.encodings_]
        if not blocks:
            return np.zeros((len(X), 0))
        return np.column_stack(blocks).astype(np.float64)

    @staticmethod
    def _encode(X: pd.DataFrame, enc: _TermEncoding) -> np.ndarray:
        column = X[enc.column]
        if enc.levels is None:
            check_finite_column(column, enc.column, role="structured")
            return column.to_numpy(dtype=np.float64)[:, None]
        values = column.astype(object).to_numpy()
        known = set(enc.levels)
        unknown = sorted({str(v) for v in values if v not in known})
        if unknown:
            raise ValueError(
                f"structured column {enc.column!r} has levels {unknown[:5]} not seen in "
                f"training (known: {enc.levels})"
            )
        return np.column_stack([values == level for level in enc.levels[1:]]).astype(np.float64)


def _levels(column: pd.Series) -> list:
    if isinstance(column.dtype, pd.CategoricalDtype):
        present = set(column.dropna().unique())
        return [c for c in column.cat.categories if c in present]
    return sorted(column.dropna().unique().tolist(), key=lambda v: (str(type(v)), v))
