"""``X`` at fit and at predict, checked as scikit-learn checks it.

At fit, ``n_features_in_`` is set, and ``feature_names_in_`` when ``X`` is a DataFrame
with string column names (scikit-learn's :func:`~sklearn.utils.validation.validate_data`).
At predict the estimator must be fitted (:class:`~sklearn.exceptions.NotFittedError`),
``X`` must have the training number of columns, and a DataFrame the training column
names in the training order (a ``ValueError`` listing the unseen, missing or
reordered names, as scikit-learn's); an array-like, or a DataFrame without string
names, is read by position with a warning when the model was fitted on names.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted, validate_data

from ..data.frames import (
    as_frame,
    check_frame_size,
    check_min_samples,
    has_string_names,
    positional_names,
)


def _allows_arrays(estimator: Any) -> bool:
    """Array-likes are accepted by models without image and text columns."""
    return not getattr(estimator, "image", None) and not getattr(estimator, "text", None)


def fit_frame(estimator: Any, X: Any) -> pd.DataFrame:
    """Check the training ``X``, set ``n_features_in_``/``feature_names_in_``, return it as a DataFrame.

    Raises
    ------
    TypeError, ValueError
        As :func:`~structunstruct.data.frames.as_frame`, and for fewer than two rows.
    """
    frame = as_frame(X, allow_array=_allows_arrays(estimator))
    check_min_samples(frame)
    validate_data(estimator, X, reset=True, skip_check_array=True)
    return frame


def predict_frame(estimator: Any, X: Any) -> pd.DataFrame:
    """Check ``X`` for prediction and return it as a DataFrame named as in training.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If the estimator is not fitted.
    ValueError
        If the number or the names of the columns differ from training.
    """
    check_is_fitted(estimator)
    if not isinstance(X, pd.DataFrame):
        X = as_frame(X, allow_array=_allows_arrays(estimator)).to_numpy()  # checked as scikit-learn does
    names = getattr(estimator, "feature_names_in_", None)
    own = names is None and has_string_names(X) and list(X.columns) == positional_names(X.shape[1])
    if own:  # a frame this package named (or named alike): read by position without a warning
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="X has feature names", category=UserWarning)
            validate_data(estimator, X, reset=False, skip_check_array=True)
        return X
    validate_data(estimator, X, reset=False, skip_check_array=True)
    if names is not None and has_string_names(X):
        return X
    target = positional_names(estimator.n_features_in_) if names is None else [str(n) for n in names]
    if isinstance(X, pd.DataFrame):  # names not usable: read by position
        check_frame_size(X)
        return X.set_axis(target, axis=1)
    return as_frame(X, allow_array=_allows_arrays(estimator), names=target)


def survival_output(survival: pd.DataFrame, return_array: bool) -> pd.DataFrame | np.ndarray:
    """A survival DataFrame (index = time, one column per row), or with ``return_array``
    its values as an array of shape (n_samples, n_times), as scikit-survival returns them."""
    return np.ascontiguousarray(survival.to_numpy().T) if return_array else survival


__all__ = ["fit_frame", "predict_frame", "survival_output"]
