"""Target leakage: a column of ``X`` that is the target itself.

A lifelines user passes the whole frame, the duration and event columns included;
a model that reads them predicts perfectly in-sample and is useless. A column that
reaches the model (structured or deep tabular) is refused when its values equal,
row by row, the survival time, the event indicator or its complement (a censoring
indicator), or the regression target. A target that is constant (every row an
event) is not compared: a constant column is uninformative, not leakage.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd


def survival_targets(target: np.ndarray) -> dict[str, np.ndarray]:
    """The vectors a survival column of ``X`` must not equal, by description."""
    event = target["event"].astype(np.float64)
    return {
        "survival time": target["time"].astype(np.float64),
        "event indicator": event,
        "censoring indicator (1 - event)": 1.0 - event,
    }


def check_no_leakage(X: pd.DataFrame, columns: Iterable[str], targets: Mapping[str, np.ndarray]) -> None:
    """Raise if a model column of ``X`` equals a target vector row by row.

    Parameters
    ----------
    X : pandas.DataFrame
    columns : iterable of str
        The columns that reach the model (structured and deep tabular).
    targets : mapping of str to ndarray of shape (n_samples,)
        Description (for the message) to target values.

    Raises
    ------
    ValueError
        Naming the column and the target it equals.
    """
    compared = {k: v for k, v in targets.items() if len(v) and np.ptp(v) > 0}
    for name in columns:
        values = _as_numbers(X[name])
        if values is None:
            continue
        for what, target in compared.items():
            if np.array_equal(values, target):
                raise ValueError(
                    f"column {name!r} of X equals the target's {what} row by row (target "
                    f"leakage: the model would read the answer); drop it from X or leave it "
                    f"out of tabular=/structured="
                )


def _as_numbers(column: pd.Series) -> np.ndarray | None:
    """The column as float64, or ``None`` when it is not numeric or has missing values."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        column = column.astype(object)
    if pd.api.types.is_bool_dtype(column.dtype):
        return column.to_numpy(dtype=np.float64)
    try:
        values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return None if np.isnan(values).any() else values


__all__ = ["check_no_leakage", "survival_targets"]
