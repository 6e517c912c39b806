"""Evaluate and encode the factors of structured terms with formulaic.

A factor is either a column name or a Python expression evaluated by formulaic's
stateful evaluator in an environment holding the referenced columns and formulaic's
transforms (``np``, ``C``, ``I``, ``center``, ``scale``, ``poly`` ...) plus :func:`s`,
the penalized B-spline smooth registered here as a stateful transform. Everything a
factor learns in training (transform states, categorical levels, the contrast coding
matrix, spline knots) is kept as plain Python/numpy values, so a design can be saved
as JSON + arrays and re-applied to new data without formulaic objects.

Categorical coding
------------------
* A plain categorical column (``category``, ``bool``, ``object``/``string``) is
  dummy-coded against its first level (category order, else sorted; unused
  categories dropped); its columns are named ``col[level]``.
* ``C(col, ...)`` is coded by formulaic (treatment against the first level by
  default, or the contrasts/levels given to ``C``); its columns are formulaic's
  names, ``C(col)[T.level]``, as in lifelines and statsmodels.
* A categorical factor of an interaction is coded with contrasts (one column fewer
  than levels) when the term without that factor is in the formula (the intercept
  always is), and with one indicator per level otherwise (R's rule).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from formulaic.model_spec import ModelSpec
from formulaic.transforms import TRANSFORMS, C
from formulaic.utils.code import format_expr
from formulaic.utils.layered_mapping import LayeredMapping
from formulaic.utils.stateful_transforms import stateful_eval, stateful_transform

from .formula import SMOOTH, _parse_expression
from .splines import PSplineBasis
from .validation import check_column_type, check_finite_column, is_categorical

#: B-spline functions of a smooth ``s(col)`` (before centring).
DEFAULT_N_BASIS = 10


@stateful_transform
def s(data, df: float | None = None, n_basis: int = DEFAULT_N_BASIS, _state: dict | None = None,
      _metadata: Mapping | None = None) -> np.ndarray:
    """Penalized cubic B-spline smooth of a numeric column (formula transform ``s``).

    In training, knots are placed over the range of ``data`` and the basis is centred
    (sum to zero over the training rows); both are kept in ``_state`` and reused on
    new data. The penalty weight follows from ``df`` when the model is fitted.

    Parameters
    ----------
    data : array-like of shape (n_samples,)
    df : float, optional
        Effective degrees of freedom (read by the model, not here).
    n_basis : int
        B-spline functions before centring (overridden by ``_metadata["n_basis"]``).

    Returns
    -------
    ndarray of shape (n_samples, n_basis - 1)
    """
    values = np.asarray(data, dtype=np.float64)
    if not _state:
        n_basis = int((_metadata or {}).get("n_basis", n_basis))
        _state.update(basis_state(PSplineBasis(n_basis).fit(values)))
    return basis_from_state(_state).transform(values)


def basis_state(basis: PSplineBasis) -> dict:
    """The fitted state of a P-spline basis as plain values (floats, ints, arrays)."""
    return {"n_basis": int(basis.n_basis), "degree": int(basis.degree),
            "penalty_order": int(basis.penalty_order), "center": bool(basis.center),
            "knots": np.asarray(basis.knots_, dtype=np.float64), "lower": float(basis.lower_),
            "upper": float(basis.upper_), "constraint": basis.constraint_}


def basis_from_state(state: Mapping) -> PSplineBasis:
    """Rebuild the fitted basis from :func:`basis_state` (penalty recomputed)."""
    from .splines import difference_penalty

    basis = PSplineBasis(state["n_basis"], state["degree"], state["penalty_order"], state["center"])
    basis.knots_ = np.asarray(state["knots"], dtype=np.float64)
    basis.lower_, basis.upper_ = float(state["lower"]), float(state["upper"])
    penalty = difference_penalty(basis.n_basis, basis.penalty_order)
    if basis.center:
        basis.constraint_ = np.asarray(state["constraint"], dtype=np.float64)
        penalty = basis.constraint_.T @ penalty @ basis.constraint_
    basis.penalty_ = penalty
    return basis


#: The environment of formula expressions: formulaic's transforms and ``s``.
FORMULA_TRANSFORMS = {**TRANSFORMS, SMOOTH: s}


@dataclass
class FactorEncoding:
    """What one factor of a term learned in training.

    Attributes
    ----------
    expr : str
        The factor (a column name or a formulaic expression).
    lookup : bool
        Whether ``expr`` is a plain column name.
    columns : tuple of str
        Columns the factor reads.
    reduced : bool
        Categorical only: coded with contrasts (``True``) or one indicator per level.
    state : dict
        formulaic's stateful-transform state (``center``, ``scale``, ``s`` ...).
    levels : list or None
        Categorical levels, reference first, when the factor is categorical.
    coding : ndarray of shape (n_levels, n_columns) or None
        The contrast (coding) matrix of the levels.
    names : list of str
        Names of the factor's columns.
    smooth : bool
        Whether the factor is a smooth ``s(col)``.
    """

    expr: str
    lookup: bool
    columns: tuple[str, ...]
    reduced: bool = True
    state: dict = field(default_factory=dict)
    levels: list | None = None
    coding: np.ndarray | None = None
    names: list[str] = field(default_factory=list)
    smooth: bool = False

    @property
    def basis(self) -> PSplineBasis | None:
        """The fitted P-spline basis of a smooth factor (``None`` otherwise)."""
        if not self.smooth:
            return None
        return basis_from_state(next(iter(self.state.values())))

    def fit_encode(self, X: pd.DataFrame, n_basis: int = DEFAULT_N_BASIS) -> np.ndarray:
        """Learn the factor on the training frame and return its columns, float64."""
        self._check_columns(X, fitting=True)
        if self.lookup:
            return self._fit_column(X[self.expr])
        categorical = [c for c in self.columns if is_categorical(X[c])]
        if self.smooth and categorical:
            raise ValueError(f"smooth term {self.expr!r} needs a numeric column; {categorical} is categorical")
        values = self._evaluate(X, self.state, {"n_basis": n_basis})
        if _is_categorical_value(values):
            return self._fit_categorical(values)
        block = self._numeric(values)
        self.names = self._numeric_names(values, block.shape[1])
        return block

    def encode(self, X: pd.DataFrame) -> np.ndarray:
        """The factor's columns on new data, as learned in training."""
        self._check_columns(X)
        if self.lookup and self.levels is None:
            return check_finite_column(X[self.expr], self.expr, role="structured")[:, None]
        if self.lookup:
            return self._encode_levels(X[self.expr].astype(object).to_numpy(), self.expr)
        values = self._evaluate(X, copy.deepcopy(self.state), {})
        if self.levels is not None:
            return self._encode_levels(_raw_values(values), self.columns[0] if len(self.columns) == 1 else self.expr)
        return self._numeric(values)

    # -- plain columns ---------------------------------------------------------------
    def _fit_column(self, column: pd.Series) -> np.ndarray:
        if not is_categorical(column):
            self.names = [self.expr]
            return check_finite_column(column, self.expr, role="structured")[:, None]
        levels = _levels(column)
        if len(levels) < 2:
            raise ValueError(
                f"structured column {self.expr!r} has a single level {levels}; "
                "a constant column has no effect to estimate"
            )
        self.levels = levels
        self.coding = np.eye(len(levels))[:, 1:] if self.reduced else np.eye(len(levels))
        shown = levels[1:] if self.reduced else levels
        self.names = [f"{self.expr}[{level}]" for level in shown]
        return self._encode_levels(column.astype(object).to_numpy(), self.expr)

    # -- expressions -----------------------------------------------------------------
    def _evaluate(self, X: pd.DataFrame, state: dict, options: dict) -> object:
        data = LayeredMapping({c: X[c] for c in self.columns}, name="data")
        env = LayeredMapping(data, LayeredMapping(FORMULA_TRANSFORMS, name="transforms"))
        metadata = {smooth_state_key(self.expr): options} if self.smooth else {}
        try:
            with np.errstate(all="ignore"):  # non-finite results are refused with the term's name
                return stateful_eval(self.expr, env, metadata, state, None)
        except (ValueError, TypeError, ArithmeticError, NameError, AttributeError) as err:
            raise ValueError(f"cannot evaluate structured term {self.expr!r}: {err}") from err

    def _fit_categorical(self, values: object) -> np.ndarray:
        metadata = getattr(values, "__formulaic_metadata__", None)
        if metadata is None or metadata.encoder is None:  # a string result: mark it categorical
            values = C(_raw_values(values))
            metadata = values.__formulaic_metadata__
        encoder_state: dict = {}
        metadata.encoder(values, self.reduced, [], encoder_state, ModelSpec(formula=[]))
        self.levels = list(encoder_state["categories"])
        grid = pd.Series(pd.Categorical(self.levels, categories=self.levels))
        coded = metadata.encoder(grid, self.reduced, [], {}, ModelSpec(formula=[]))
        coded_meta = coded.__formulaic_metadata__
        frame = pd.DataFrame(coded.__wrapped__ if hasattr(coded, "__wrapped__") else coded)
        self.coding = frame.to_numpy(dtype=np.float64)
        self.names = [coded_meta.format.format(name=self.expr, field=f) for f in frame.columns]
        return self._encode_levels(_raw_values(values), self.columns[0] if len(self.columns) == 1 else self.expr)

    def _numeric(self, values: object) -> np.ndarray:
        raw = values.__wrapped__ if hasattr(values, "__wrapped__") else values
        if isinstance(raw, Mapping):  # a basis returned column by column (bs, cr, poly)
            raw = np.column_stack([np.asarray(v, dtype=np.float64) for v in raw.values()])
        try:
            block = np.asarray(raw, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise ValueError(f"structured term {self.expr!r} is not numeric") from err
        block = block.reshape(len(block), -1) if block.ndim != 2 else block
        bad = ~np.isfinite(block).all(axis=1)
        if bad.any():
            raise ValueError(
                f"structured term {self.expr!r} has {int(bad.sum())} NaN or infinite values "
                f"(first at row {int(np.flatnonzero(bad)[0])}); check its column(s) {list(self.columns)}"
            )
        return block

    def _numeric_names(self, values: object, width: int) -> list[str]:
        if width == 1 and not self.smooth:
            return [self.expr]
        raw = values.__wrapped__ if hasattr(values, "__wrapped__") else values
        fields = list(raw.columns) if isinstance(raw, pd.DataFrame) else list(range(width))
        if isinstance(raw, Mapping):
            fields = list(raw)
        metadata = getattr(values, "__formulaic_metadata__", None)
        if metadata is not None and metadata.column_names and len(metadata.column_names) == width:
            fields = list(metadata.column_names)
        return [f"{self.expr}[{f}]" for f in fields]

    # -- shared ----------------------------------------------------------------------
    def _check_columns(self, X: pd.DataFrame, fitting: bool = False) -> None:
        missing = [c for c in self.columns if c not in X.columns]
        if missing:
            raise ValueError(
                f"structured column(s) {missing} not found in X; available columns: "
                f"{list(map(str, X.columns))[:20]}"
            )
        for name in self.columns:
            column = X[name]
            if fitting:
                check_column_type(column, name, role="structured")
            if is_categorical(column):
                if column.isna().any():
                    raise ValueError(
                        f"structured column {name!r} has {int(column.isna().sum())} missing values"
                    )
            elif not (self.lookup and self.levels is None):  # plain numeric columns: checked when encoded
                check_finite_column(column, name, role="structured")

    def _encode_levels(self, values: np.ndarray, name: str) -> np.ndarray:
        codes = pd.Categorical(values, categories=self.levels).codes
        unknown = sorted({str(v) for v in values[codes < 0]})
        if unknown:
            raise ValueError(
                f"structured column {name!r} has levels {unknown[:5]} not seen in "
                f"training (known: {self.levels})"
            )
        return self.coding[codes]


def smooth_state_key(expr: str) -> str:
    """The key of a smooth's state in formulaic's stateful-transform state (its call, normalized)."""
    return format_expr(_parse_expression(expr, {}).body)


def _is_categorical_value(values: object) -> bool:
    metadata = getattr(values, "__formulaic_metadata__", None)
    if metadata is not None:
        return str(getattr(metadata.kind, "value", metadata.kind)) == "categorical"
    if isinstance(values, pd.Series):
        return is_categorical(values)
    return isinstance(values, np.ndarray) and values.dtype.kind in "OUSb"


def _raw_values(values: object) -> np.ndarray:
    raw = values.__wrapped__ if hasattr(values, "__wrapped__") else values
    return pd.Series(np.asarray(raw, dtype=object) if not isinstance(raw, pd.Series) else raw).astype(object).to_numpy()


def _levels(column: pd.Series) -> list:
    if isinstance(column.dtype, pd.CategoricalDtype):
        present = set(column.dropna().unique())
        return [c for c in column.cat.categories if c in present]
    return sorted(column.dropna().unique().tolist(), key=lambda v: (str(type(v)), v))
