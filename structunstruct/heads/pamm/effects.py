"""Partial effects of a fitted PAMM (smooths, time-varying effects, baseline) with bands."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ...data.design import StructuredDesign
from .terms import PAMMTerms


def effect_frame(
    values: np.ndarray, L: np.ndarray, coef: np.ndarray, covariance: np.ndarray, name: str, level: float = 0.95
) -> pd.DataFrame:
    """``L @ coef`` with pointwise Wald bands, index = ``values`` named ``name``."""
    effect = L @ coef
    se = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", L, covariance, L), 0.0, None))
    z = stats.norm.ppf(0.5 + level / 2)
    return pd.DataFrame(
        {"effect": effect, "se": se, "lower 95%": effect - z * se, "upper 95%": effect + z * se},
        index=pd.Index(np.asarray(values, dtype=np.float64), name=name),
    )


def time_grid(terms: PAMMTerms, values) -> np.ndarray:
    """Default time grid: the interval end points."""
    if values is None:
        return terms.interval_times
    return np.asarray(values, dtype=np.float64).reshape(-1)


def effect_matrix(
    term: str, terms: PAMMTerms, design: StructuredDesign, values
) -> tuple[np.ndarray, np.ndarray, str]:
    """Rows ``L`` such that ``L @ coef`` is the partial effect of ``term`` at ``values``.

    Returns
    -------
    values : ndarray of shape (g,)
    L : ndarray of shape (g, n_coef)
    index_name : str
    """
    sl = terms.slices()
    smooth = _smooth_bases(design)
    if term == "baseline":
        grid = time_grid(terms, values)
        return grid, _baseline_rows(terms, grid, sl), "time"
    if term in terms.tv_names():
        grid = time_grid(terms, values)
        return grid, _tv_rows(terms, design, term, grid, sl), "time"
    if term in smooth:
        block, basis = smooth[term]
        grid = np.linspace(basis.lower_, basis.upper_, 100) if values is None else np.asarray(values, dtype=np.float64)
        L = np.zeros((len(grid), terms.n_coef))
        start = sl["structured"].start
        L[:, start + block.start:start + block.stop] = basis.transform(grid)
        return grid, L, term.removeprefix("s(").removesuffix(")")
    known = ["baseline", *terms.tv_names(), *smooth]
    raise ValueError(f"unknown term {term!r}; terms with partial effects: {known}")


def _baseline_rows(terms: PAMMTerms, grid: np.ndarray, sl: dict) -> np.ndarray:
    L = np.zeros((len(grid), terms.n_coef))
    L[:, sl["baseline"]] = terms.baseline_matrix(grid)
    return L


def _tv_rows(terms: PAMMTerms, design: StructuredDesign, term: str, grid: np.ndarray, sl: dict) -> np.ndarray:
    j = terms.tv_names().index(term)
    column = int(terms.tv_columns_[j])
    basis = terms.tv_matrix(grid)
    q = basis.shape[1]
    L = np.zeros((len(grid), terms.n_coef))
    L[:, sl["structured"].start + column] = 1.0
    first = sl["time_varying"].start + j * q
    L[:, first:first + q] = basis
    return L / design.scale_[column]


def _smooth_bases(design: StructuredDesign) -> dict:
    columns = design.term_columns()
    return {
        str(enc.term): (columns[str(enc.term)], enc.basis)
        for enc in design.encodings_
        if enc.basis is not None
    }


__all__ = ["effect_frame", "effect_matrix", "time_grid"]
