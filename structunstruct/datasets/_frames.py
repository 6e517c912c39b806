"""Helpers shared by the real-data loaders: typed covariate frames and targets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..data.targets import make_survival_target


def decode(values: Any, labels: Mapping[Any, str], name: str) -> pd.Categorical:
    """Turn codes into a categorical with meaningful string levels.

    Parameters
    ----------
    values : array-like of shape (n_samples,)
        Codes as stored in the source (numbers or strings).
    labels : mapping
        Code -> level. The order of the mapping is the order of the levels; the
        first level is the reference level of a dummy coding.
    name : str
        Column name, for the error message.

    Returns
    -------
    pandas.Categorical
        Of shape (n_samples,), unordered, with ``list(labels.values())`` as levels.

    Raises
    ------
    ValueError
        If a non-missing code has no label.
    """
    series = pd.Series(np.asarray(values, dtype=object))
    unknown = set(series.dropna().unique()) - set(labels)
    if unknown:
        raise ValueError(f"column {name!r} has codes without a label: {sorted(map(str, unknown))}")
    levels = list(dict.fromkeys(labels.values()))
    return pd.Categorical(series.map(labels), categories=levels)


def as_levels(values: Any, levels: Sequence[str]) -> pd.Categorical:
    """Categorical of string values with the levels in the given order.

    Parameters
    ----------
    values : array-like of shape (n_samples,)
        String values (or values whose ``str`` is one of ``levels``).
    levels : sequence of str
        All levels, the reference level first.

    Returns
    -------
    pandas.Categorical
        Of shape (n_samples,).
    """
    return decode(values, {level: level for level in levels}, name="values")


def finish(
    X: pd.DataFrame, time: Any, event: Any, *, dropna: bool = False
) -> tuple[pd.DataFrame, np.ndarray]:
    """Cast covariates to their final dtypes and build the survival target.

    Numeric columns become float64, categorical columns stay ``category``; rows with a
    missing covariate are removed when ``dropna`` is true. The index is reset.

    Parameters
    ----------
    X : pandas.DataFrame of shape (n_samples, n_features)
        Covariates, numeric or categorical.
    time, event : array-like of shape (n_samples,)
        Observed time and event indicator.
    dropna : bool, default=False
        Remove rows with a missing covariate. When false, a missing value raises.

    Returns
    -------
    X : pandas.DataFrame of shape (n_kept, n_features)
    y : numpy.ndarray of shape (n_kept,)
        Structured array with fields ``event`` (bool) and ``time`` (float64).

    Raises
    ------
    ValueError
        If a covariate has missing values and ``dropna`` is false.
    """
    X = X.reset_index(drop=True)
    keep = ~X.isna().any(axis=1).to_numpy()
    if not keep.all() and not dropna:
        raise ValueError(f"covariates have missing values in {int((~keep).sum())} rows")
    out = {}
    for column in X.columns:
        values = X[column][keep]
        if isinstance(values.dtype, pd.CategoricalDtype):
            out[column] = values.cat.remove_unused_categories()
        else:
            out[column] = values.astype(np.float64)
    frame = pd.DataFrame(out).reset_index(drop=True)
    y = make_survival_target(np.asarray(time)[keep], np.asarray(event)[keep])
    return frame, y


def split_sksurv_target(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Time and event of a scikit-survival structured target, whatever its field names.

    Parameters
    ----------
    y : numpy.ndarray of shape (n_samples,)
        Structured array with one boolean field (event) and one float field (time).

    Returns
    -------
    time : numpy.ndarray of shape (n_samples,)
    event : numpy.ndarray of shape (n_samples,)
    """
    names = y.dtype.names
    event_name = next(name for name in names if y.dtype[name].kind == "b")
    time_name = next(name for name in names if name != event_name)
    return y[time_name], y[event_name]
