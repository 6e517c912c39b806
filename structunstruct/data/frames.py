"""``X`` as a DataFrame: array-likes get scikit-learn's column names ``x0, x1, ...``.

Columns are chosen by name everywhere in the package, so every accepted ``X`` becomes
a DataFrame first. A DataFrame whose column names are all strings keeps them; any
other 2-D array-like (numpy array, list of lists, a DataFrame with non-string column
names) is read as numbers by :func:`sklearn.utils.check_array` and its columns are
named ``x0, x1, ...`` (so ``structured=["x0"]`` addresses the first column). Image and
text columns hold objects and must be named: a model with them takes DataFrames only.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sklearn.utils.validation import check_array

#: Fewest rows a model is fitted on.
MIN_FIT_SAMPLES = 2


def has_string_names(X: Any) -> bool:
    """Whether ``X`` is a DataFrame whose column names are all strings."""
    return isinstance(X, pd.DataFrame) and all(isinstance(c, str) for c in X.columns)


def positional_names(n_features: int) -> list[str]:
    """Column names given to an array-like: ``x0, x1, ...`` as scikit-learn's."""
    return [f"x{i}" for i in range(n_features)]


def as_frame(X: Any, *, allow_array: bool, names: list[str] | None = None) -> pd.DataFrame:
    """``X`` as a DataFrame with string column names; the user's object is not modified.

    Parameters
    ----------
    X : DataFrame or 2-D array-like of shape (n_samples, n_features)
    allow_array : bool
        Whether array-likes are accepted (models without image and text columns).
    names : list of str, optional
        Names for the columns of an array-like (default ``x0, x1, ...``).

    Returns
    -------
    pandas.DataFrame
        ``X`` itself when it has string column names, else a new frame.

    Raises
    ------
    TypeError
        If ``X`` is not a DataFrame and ``allow_array`` is false, or holds values that
        are not numbers.
    ValueError
        If ``X`` has no rows or no columns, is not 2-D, or is sparse/complex.
    """
    if isinstance(X, pd.DataFrame):
        check_frame_size(X)
        if has_string_names(X):
            return X
        return X.set_axis(names or positional_names(X.shape[1]), axis=1)
    if not allow_array:
        raise TypeError(
            "X must be a pandas DataFrame with named columns when the model has an image "
            f"or text column (those columns are chosen by name); got {type(X).__name__}"
        )
    array = check_array(X, dtype="numeric", ensure_all_finite=False, input_name="X", copy=True)
    return pd.DataFrame(array, columns=names or positional_names(array.shape[1]))


def check_frame_size(X: pd.DataFrame) -> None:
    """Refuse a DataFrame without rows or columns, in scikit-learn's words."""
    if X.shape[0] < 1:
        raise ValueError(f"Found array with 0 sample(s) (shape={X.shape}) while a minimum of 1 is required.")
    if X.shape[1] < 1:
        raise ValueError(f"Found array with 0 feature(s) (shape={X.shape}) while a minimum of 1 is required.")


def check_min_samples(X: pd.DataFrame) -> None:
    """Refuse a training frame with fewer than :data:`MIN_FIT_SAMPLES` rows."""
    if len(X) < MIN_FIT_SAMPLES:
        raise ValueError(
            f"X has {len(X)} sample (n_samples={len(X)}); fitting needs at least "
            f"{MIN_FIT_SAMPLES} rows"
        )


__all__ = ["MIN_FIT_SAMPLES", "as_frame", "check_frame_size", "check_min_samples", "has_string_names",
           "positional_names"]
