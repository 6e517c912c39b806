"""Helpers shared by tests (import as ``from helpers import ...``)."""

from __future__ import annotations

import pandas as pd


def dummy_frame(X: pd.DataFrame) -> pd.DataFrame:
    """Treatment-coded design in our naming (``col[level]``), for reference fitters."""
    parts = {}
    for col in X.columns:
        column = X[col]
        if isinstance(column.dtype, pd.CategoricalDtype) or column.dtype == object:
            levels = (
                [c for c in column.cat.categories if c in set(column)]
                if isinstance(column.dtype, pd.CategoricalDtype)
                else sorted(column.unique())
            )
            for level in levels[1:]:
                parts[f"{col}[{level}]"] = (column == level).astype(float).to_numpy()
        else:
            parts[col] = column.astype(float).to_numpy()
    return pd.DataFrame(parts, index=X.index)
