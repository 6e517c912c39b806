"""The structured design matrix: linear terms and categorical dummies."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .formula import Term
from .splines import PSplineBasis
from .validation import check_column_type, check_finite_column, is_categorical

DEFAULT_SMOOTH_DF = 4.0


@dataclass
class _TermEncoding:
    term: Term
    levels: list | None = None  # categorical levels, reference first
    basis: PSplineBasis | None = None  # smooth terms

    @property
    def column(self) -> str:
        return self.term.column

    @property
    def names(self) -> list[str]:
        if self.basis is not None:
            return [f"{self.term}[{j}]" for j in range(self.basis.n_columns)]
        if self.levels is None:
            return [self.column]
        return [f"{self.column}[{level}]" for level in self.levels[1:]]


@dataclass(frozen=True)
class PenaltyBlock:
    """The penalty of one smooth term on its block of design columns.

    Attributes
    ----------
    name : str
        The term, e.g. ``"s(bmi)"``.
    columns : slice
        Its columns in the design matrix.
    matrix : ndarray
        Difference penalty in the term's coefficient space.
    df : float
        Requested effective degrees of freedom.
    """

    name: str
    columns: slice
    matrix: np.ndarray
    df: float


@dataclass
class StructuredDesign:
    """Build the design matrix of the structured terms.

    Numeric columns enter as they are; categorical columns (object, category, bool,
    string) are dummy-coded against their first level, named ``column[level]``;
    smooth terms ``s(col)`` become a centred cubic P-spline basis (``n_basis - 1``
    columns named ``s(col)[j]``) with a second-order difference penalty
    (:attr:`penalty_blocks`).
    The design is learned from the training data by :meth:`fit`; :meth:`transform`
    applies it to new data. Columns are also centred and scaled (``center_``,
    ``scale_``) for optimisation; coefficients are reported on the original scale.

    Parameters
    ----------
    terms : sequence of Term
        The structured terms.
    n_basis : int
        B-spline functions per smooth term (before centring).
    """

    terms: Sequence[Term]
    n_basis: int = 10
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
        """Learn levels, spline bases and scaling from the training frame."""
        self.fit_transform(X)
        return self

    def fit_transform(self, X: pd.DataFrame) -> np.ndarray:
        """Fit on ``X`` and return its standardized design (computed once)."""
        self.encodings_ = [self._fit_term(X, term) for term in self.terms]
        design = self._raw_design(X)
        smooth = self._smooth_mask()
        self.center_ = np.where(smooth, 0.0, design.mean(axis=0)) if len(design) else np.zeros(len(smooth))
        design -= self.center_  # the design is a fresh column-major array: centre in place
        spread = np.sqrt([design[:, j] @ design[:, j] / max(len(design), 1) for j in range(design.shape[1])])
        scale = np.where(smooth, 1.0, spread)
        constant = scale <= 1e-12 * np.maximum(1.0, np.abs(self.center_))
        if constant.any():
            names = [n for n, c in zip(self.feature_names, constant) if c]
            raise ValueError(f"structured column(s) {names} are constant in the training data")
        self.scale_ = scale
        design /= self.scale_
        return design

    def _standardize(self, design: np.ndarray) -> np.ndarray:
        """Centre and scale ``design`` in place (it is a fresh array) and return it."""
        design -= self.center_
        design /= self.scale_
        return design

    @property
    def penalty_blocks(self) -> list[PenaltyBlock]:
        """One :class:`PenaltyBlock` per smooth term (empty without smooths)."""
        blocks, start = [], 0
        for enc in self.encodings_:
            width = len(enc.names)
            if enc.basis is not None:
                df = enc.term.df if enc.term.df is not None else DEFAULT_SMOOTH_DF
                blocks.append(
                    PenaltyBlock(str(enc.term), slice(start, start + width), enc.basis.penalty_, df)
                )
            start += width
        return blocks

    @property
    def has_smooth_terms(self) -> bool:
        """Whether any term is a smooth ``s(col)``."""
        return any(enc.basis is not None for enc in self.encodings_)

    def term_columns(self) -> dict[str, slice]:
        """Columns of each term in the design, keyed by the term's name."""
        out, start = {}, 0
        for enc in self.encodings_:
            width = len(enc.names)
            out[str(enc.term)] = slice(start, start + width)
            start += width
        return out

    def _smooth_mask(self) -> np.ndarray:
        return np.array(
            [enc.basis is not None for enc in self.encodings_ for _ in enc.names], dtype=bool
        )

    def transform(self, X: pd.DataFrame, standardize: bool = True) -> np.ndarray:
        """Design matrix of shape (n_samples, n_features), float64."""
        raw = self._raw_design(X)
        return self._standardize(raw) if standardize else raw

    def _fit_term(self, X: pd.DataFrame, term: Term) -> _TermEncoding:
        column = X[term.column]
        check_column_type(column, term.column, role="structured")
        if term.kind == "smooth":
            if is_categorical(column):
                raise ValueError(f"smooth term {str(term)!r} needs a numeric column")
            values = check_finite_column(column, term.column, role="structured")
            return _TermEncoding(term, basis=PSplineBasis(self.n_basis).fit(values))
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
            return _TermEncoding(term, levels)
        return _TermEncoding(term)  # finiteness is checked when the column is encoded

    def _raw_design(self, X: pd.DataFrame) -> np.ndarray:
        """Unstandardized design, column-major (each column is contiguous)."""
        blocks = [self._encode(X, enc) for enc in self.encodings_]
        design = np.empty((len(X), sum(b.shape[1] for b in blocks)), order="F")
        start = 0
        for block in blocks:
            design[:, start:start + block.shape[1]] = block
            start += block.shape[1]
        return design

    @staticmethod
    def _encode(X: pd.DataFrame, enc: _TermEncoding) -> np.ndarray:
        column = X[enc.column]
        if enc.basis is not None:
            return enc.basis.transform(check_finite_column(column, enc.column, role="structured"))
        if enc.levels is None:
            return check_finite_column(column, enc.column, role="structured")[:, None]
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


def linear_columns(design: StructuredDesign) -> list[int]:
    """Columns of ``design`` outside every smooth term's penalty block (the linear terms)."""
    smooth = np.zeros(design.n_features, dtype=bool)
    for block in design.penalty_blocks:
        smooth[block.columns] = True
    return np.flatnonzero(~smooth).tolist()
