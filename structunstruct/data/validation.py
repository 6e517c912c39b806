"""Checks on covariate columns, with errors that name the column."""

from __future__ import annotations

import numpy as np
import pandas as pd

#: A column of strings with more distinct values than this share of its rows ...
MAX_LEVEL_SHARE = 0.5
#: ... and at least this many distinct values is an identifier or free text, not a category.
MIN_SUSPECT_LEVELS = 20
#: Strings of at least this many words (median over the column) are free text.
MIN_TEXT_WORDS = 4


def is_categorical(column: pd.Series) -> bool:
    """Whether a column is treated as categorical.

    ``category`` and ``bool`` columns are; object and string columns are unless every
    (non-missing) value is a number, as in an object array of floats.
    """
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(dtype):
        return True
    if pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
        return not bool(_number_mask(column.dropna()).all())
    return False


def _number_mask(values: pd.Series) -> np.ndarray:
    """Which values are numbers (or strings of numbers), shape (len(values),)."""
    numbers = pd.to_numeric(values.map(_number_or_none), errors="coerce")
    return numbers.notna().to_numpy()


def _number_or_none(value: object) -> object:
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, float, np.number, str)):
        return value
    return None


def check_column_type(column: pd.Series, name: str, role: str) -> None:
    """Refuse object/string columns that would become a meaningless categorical.

    A ``category`` dtype says the user means a categorical: it is never refused.

    Raises
    ------
    ValueError
        If the column is mostly numbers with a few other strings (a typo or a missing
        value code such as ``"?"``, which would make every number a level), or has
        so many distinct strings that it is an identifier or free text.
    """
    dtype = column.dtype
    if not (pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype)):
        return
    _check_scalar_cells(column, name, role)
    values = column.dropna()
    numbers = _number_mask(values)
    if numbers.all():
        return
    if numbers.mean() >= 0.5:
        bad = pd.unique(values[~numbers].astype(str))
        shown = ", ".join(map(repr, bad[:5])) + (", ..." if len(bad) > 5 else "")
        raise ValueError(
            f"{role} column {name!r} is numeric except for {int((~numbers).sum())} value(s) "
            f"{shown}: replace them by numbers, or cast the column to 'category' if it is "
            "categorical"
        )
    _check_not_text(values, name, role, len(column))


def _check_scalar_cells(column: pd.Series, name: str, role: str) -> None:
    """Refuse cells that are arrays or lists (images, most likely), naming the column and row."""
    for index, cell in column.items():
        if isinstance(cell, (np.ndarray, list, tuple, dict, set)):
            raise ValueError(
                f"{role} column {name!r} holds {type(cell).__name__} values (first at index "
                f"{index!r}), not numbers or categories; an image column goes in image= (a "
                "list for several), or leave it out of X (or of tabular=)"
            )


def _check_not_text(values: pd.Series, name: str, role: str, n_rows: int) -> None:
    n_levels = values.nunique()
    if n_levels < MIN_SUSPECT_LEVELS:
        return
    many = n_levels > MAX_LEVEL_SHARE * n_rows
    if many or values.astype(str).str.split().str.len().median() >= MIN_TEXT_WORDS:
        raise ValueError(
            f"{role} column {name!r} has {n_levels} distinct strings in {n_rows} rows: free "
            f"text or an identifier, not a category; pass it as text={name!r}, leave it out "
            "of X (or of tabular=), or cast it to 'category' to keep it as a categorical"
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
    dtype = column.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        raise ValueError(
            f"{role} column {name!r} holds dates or durations (dtype {dtype}); convert it to "
            "numbers first (e.g. days since a reference date)"
        )
    try:  # na_value: nullable integer/float columns with pd.NA become NaN, reported below
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
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
