"""Coefficient tables (``summary_``) in the layout of lifelines and statsmodels."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

SUMMARY_COLUMNS = ["coef", "exp(coef)", "se", "lower 95%", "upper 95%", "z", "p"]


def coefficient_table(
    names: Sequence[str] | pd.Index,
    coef: np.ndarray,
    covariance: np.ndarray,
    exponentiate: bool = False,
    level: float = 0.95,
) -> pd.DataFrame:
    """Wald table of coefficients.

    Parameters
    ----------
    names : sequence of str or Index
        Term names (a MultiIndex is kept as it is).
    coef : ndarray of shape (p,)
    covariance : ndarray of shape (p, p)
    exponentiate : bool
        Add ``exp(coef)`` (hazard ratios).
    level : float
        Confidence level of the interval.

    Returns
    -------
    pandas.DataFrame
        Columns ``coef``, (``exp(coef)``), ``se``, ``lower 95%``, ``upper 95%``, ``z``, ``p``.
    """
    se = np.sqrt(np.clip(np.diag(covariance), 0.0, None)) if len(coef) else np.zeros(0)
    quantile = stats.norm.ppf(0.5 + level / 2)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # diverged coefficients
        z = coef / se
        hazard_ratio = np.exp(coef)
    table = pd.DataFrame(
        {
            "coef": coef,
            "exp(coef)": hazard_ratio,
            "se": se,
            "lower 95%": coef - quantile * se,
            "upper 95%": coef + quantile * se,
            "z": z,
            "p": 2 * stats.norm.sf(np.abs(z)),
        },
        index=names if isinstance(names, pd.Index) else pd.Index(list(names), name="term"),
    )
    return table if exponentiate else table.drop(columns="exp(coef)")
