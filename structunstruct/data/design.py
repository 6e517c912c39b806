"""The structured design matrix of a formula: linear terms, categorical codings, interactions, smooths.

Terms come from :func:`~structunstruct.data.formula.parse_structured` (formulaic's
grammar); each factor is evaluated and encoded by
:class:`~structunstruct.data.terms.FactorEncoding`, and an interaction's columns are the
row-wise products of its factors' columns (names joined by ``:``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import product

import numpy as np
import pandas as pd

from .formula import Term, expression_columns
from .splines import PSplineBasis
from .terms import DEFAULT_N_BASIS, FactorEncoding, basis_state, smooth_state_key

DEFAULT_SMOOTH_DF = 4.0


@dataclass
class _TermEncoding:
    term: Term
    factors: list[FactorEncoding] = field(default_factory=list)

    @property
    def column(self) -> str:
        return self.term.column

    @property
    def basis(self) -> PSplineBasis | None:
        """The fitted basis of a smooth term (``None`` otherwise)."""
        return self.factors[0].basis if self.term.kind == "smooth" else None

    @property
    def levels(self) -> list | None:
        """Levels of a categorical main effect (``None`` otherwise)."""
        return self.factors[0].levels if len(self.factors) == 1 else None

    @property
    def names(self) -> list[str]:
        if self.term.kind == "smooth":
            return [f"{self.term}[{j}]" for j in range(len(self.factors[0].names))]
        if len(self.factors) == 1:
            return list(self.factors[0].names)
        return [":".join(parts) for parts in product(*(f.names for f in self.factors))]

    def fit_encode(self, X: pd.DataFrame, reduced: list[bool], n_basis: int) -> np.ndarray:
        self.factors = [
            FactorEncoding(expr, lookup, _factor_columns(expr, lookup), reduced=r,
                           smooth=self.term.kind == "smooth")
            for expr, lookup, r in zip(self.term.factors, self.term.lookup, reduced)
        ]
        return _row_products([f.fit_encode(X, n_basis) for f in self.factors])

    def encode(self, X: pd.DataFrame) -> np.ndarray:
        return _row_products([f.encode(X) for f in self.factors])


def _factor_columns(expr: str, lookup: bool) -> tuple[str, ...]:
    return (expr,) if lookup else expression_columns(expr)


def _row_products(blocks: list[np.ndarray]) -> np.ndarray:
    """Row-wise Kronecker product of the factors' columns (first factor slowest)."""
    out = blocks[0]
    for block in blocks[1:]:
        out = (out[:, :, None] * block[:, None, :]).reshape(len(out), -1)
    return out


def _reduced_ranks(term: Term, terms: Sequence[Term]) -> list[bool]:
    """Per factor of ``term``: code a categorical factor with contrasts (R's rule).

    A factor is coded with contrasts when the term without it is in the model (the
    empty term, the intercept, always is); otherwise with one indicator per level.
    """
    present = {frozenset(t.factors) for t in terms}
    out = []
    for factor in term.factors:
        rest = frozenset(f for f in term.factors if f != factor)
        out.append(not rest or rest in present)
    return out


def upgrade_term_state(state: dict) -> dict:
    """A :class:`Term` saved before formulaic (``column``, ``kind``, ``df``) in the current layout."""
    if "name" in state:
        return state
    column, kind, df = state["column"], state.get("kind", "linear"), state.get("df")
    if kind != "smooth":
        return {"name": column, "factors": (column,), "lookup": (True,), "columns": (column,),
                "kind": "linear", "df": None}
    name = column if column.isidentifier() else f"`{column}`"
    expr = f"s({name})" if df is None else f"s({name}, df={df!r})"
    return {"name": f"s({column})", "factors": (expr,), "lookup": (False,), "columns": (column,),
            "kind": "smooth", "df": df}


def upgrade_encoding_state(state: dict) -> dict:
    """A term encoding saved before formulaic (``term``, ``levels``, ``basis``) in the current layout.

    The old design coded every term as one factor: a numeric column, a categorical one
    against its first level (``col[level]``) or a centred P-spline ``s(col)``.
    """
    if "factors" in state:
        return state
    term, levels, basis = state["term"], state.get("levels"), state.get("basis")
    factor = FactorEncoding(term.factors[0], term.lookup[0], term.columns)
    if basis is not None:
        factor.smooth = True
        factor.state = {smooth_state_key(factor.expr): basis_state(basis)}
        factor.names = [f"{factor.expr}[{j}]" for j in range(basis.n_columns)]
    elif levels is not None:
        factor.levels = list(levels)
        factor.coding = np.eye(len(levels))[:, 1:]
        factor.names = [f"{term.column}[{level}]" for level in levels[1:]]
    else:
        factor.names = [term.column]
    return {"term": term, "factors": [factor]}


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

    Numeric columns enter as they are; plain categorical columns (object, category,
    bool, string) are dummy-coded against their first level, named ``column[level]``;
    ``C(col)`` is coded by formulaic and named as formulaic names it (``C(col)[T.level]``);
    expressions (``np.log(x)``, ``I(x ** 2)``, ``center(x)``, ``scale(x)``, ``poly(x, 2)``)
    are evaluated by formulaic, columns named by the expression; interactions
    ``a:b`` are products of their factors' columns (``age:race[b]``); smooth terms
    ``s(col)`` become a centred cubic P-spline basis (``n_basis - 1`` columns named
    ``s(col)[j]``) with a second-order difference penalty (:attr:`penalty_blocks`).
    The design is learned from the training data by :meth:`fit` (levels, contrast
    codings, transform states, knots; all plain values, saved with the model);
    :meth:`transform` applies it to new data and refuses levels not seen in training
    and missing values, naming the column. Columns are also centred and scaled
    (``center_``, ``scale_``) for optimisation; coefficients are reported on the
    original scale.

    Parameters
    ----------
    terms : sequence of Term
        The structured terms.
    n_basis : int
        B-spline functions per smooth term (before centring).
    """

    terms: Sequence[Term]
    n_basis: int = DEFAULT_N_BASIS
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
        self.encodings_ = [_TermEncoding(term) for term in self.terms]
        design = self._assemble(
            [enc.fit_encode(X, _reduced_ranks(enc.term, self.terms), self.n_basis) for enc in self.encodings_],
            len(X),
        )
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

    def _raw_design(self, X: pd.DataFrame) -> np.ndarray:
        """Unstandardized design, column-major (each column is contiguous)."""
        return self._assemble([enc.encode(X) for enc in self.encodings_], len(X))

    @staticmethod
    def _assemble(blocks: list[np.ndarray], n_rows: int) -> np.ndarray:
        design = np.empty((n_rows, sum(b.shape[1] for b in blocks)), order="F")
        start = 0
        for block in blocks:
            design[:, start:start + block.shape[1]] = block
            start += block.shape[1]
        return design


def linear_columns(design: StructuredDesign) -> list[int]:
    """Columns of ``design`` outside every smooth term's penalty block (the linear terms)."""
    smooth = np.zeros(design.n_features, dtype=bool)
    for block in design.penalty_blocks:
        smooth[block.columns] = True
    return np.flatnonzero(~smooth).tolist()
