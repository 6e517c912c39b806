"""Checks on covariate columns, with errors that name the column."""

from __future__ import annotations

import numpy as np
import pandas as pd


def is_categorical(column: pd.Series) -> bool:
    """Whether a column is treated as categorical (object, string, category, bool)."""
    dtype = column.dtype
    return (
        isinstance(dtype, pd.CategoricalDtype)
        or pd.api.types.is_bool_dtype(dtype)
        or pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
    )


def check_finite_column(column: pd.Series, name: str, role: str) -> np.ndarray:
    """Return a numeric column as float64, raising if it is not numeric or not finite.

    Parameters
    ----------
    column : pandas.Series
        The column.
    name : str
        Its name, for the error message.
    role : str
        Its role (``"structured"``, ``"tabular"``), for the error message.

    Returns
    -------
    numpy.ndarray of shape (n_samples,)
    """
    try:
        values = column.to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{role} column {name!r} is not numeric (dtype {column.dtype})") from err
    bad = ~np.isfinite(values)
    if bad.any():
        first = column.index[np.flatnonzero(bad)[0]]
        raise ValueError(
            f"{role} column {name!r} has {int(bad.sum())} NaN or infinite values "
            f"(first at index {first!r})"
        )
    return values
