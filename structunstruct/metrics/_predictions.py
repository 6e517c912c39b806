"""Survival-function predictions turned into a matrix of probabilities at given times."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sksurv.functions import StepFunction

from ._validation import check_finite, check_n_samples


def survival_at(y_pred: Any, times: np.ndarray, n_samples: int) -> np.ndarray:
    """Evaluate predicted survival functions at ``times``.

    Parameters
    ----------
    y_pred : DataFrame, sequence of StepFunction or array-like
        Predicted survival, in one of three forms:

        - a DataFrame as returned by ``predict_survival_function(X)`` of the
          structunstruct estimators: index = time grid (increasing), one column
          per sample. It is read as a right-continuous step function, equal to
          1 before the first time of the index and to the last row after the last.
        - a sequence of :class:`sksurv.functions.StepFunction`, one per sample, as
          returned by scikit-survival's ``predict_survival_function(X)``; evaluated
          with scikit-survival's own convention, held constant beyond its domain.
        - an array of shape (n_samples, n_times) of survival probabilities already
          evaluated at ``times`` (shape (n_samples,) when there is one time).
    times : numpy.ndarray of shape (n_times,)
        Strictly increasing evaluation times.
    n_samples : int
        Number of samples in ``y_true``.

    Returns
    -------
    numpy.ndarray
        Survival probabilities of shape (n_samples, n_times).
    """
    if isinstance(y_pred, pd.DataFrame):
        check_n_samples(y_pred.shape[1], n_samples, "y_pred (one column per sample)")
        values = _frame_at(y_pred, times)
    elif _is_step_functions(y_pred):
        check_n_samples(len(y_pred), n_samples)
        values = np.vstack([_step_function_at(fn, times) for fn in y_pred])
    else:
        values = _array_at(y_pred, times, n_samples)
    return check_finite(values)


def _frame_at(frame: pd.DataFrame, times: np.ndarray) -> np.ndarray:
    """Right-continuous step interpolation of a (time x sample) DataFrame."""
    try:
        index = np.asarray(frame.index, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(
            "y_pred DataFrame must have a numeric time index (one row per time)"
        ) from err
    values = check_finite(frame.to_numpy(dtype=np.float64))
    if (np.diff(index) < 0).any():
        order = np.argsort(index, kind="stable")
        index, values = index[order], values[order]
    row = np.searchsorted(index, times, side="right") - 1
    at_times = values[np.clip(row, 0, None)]
    at_times[row < 0] = 1.0
    return at_times.T


def _is_step_functions(y_pred: Any) -> bool:
    if not isinstance(y_pred, (list, tuple, np.ndarray)) or len(y_pred) == 0:
        return False
    if isinstance(y_pred, np.ndarray) and y_pred.dtype != object:
        return False
    return all(isinstance(fn, StepFunction) for fn in y_pred)


def _step_function_at(fn: StepFunction, times: np.ndarray) -> np.ndarray:
    lower, upper = fn.domain
    return np.atleast_1d(fn(np.clip(times, lower, upper))).astype(np.float64)


def _array_at(y_pred: Any, times: np.ndarray, n_samples: int) -> np.ndarray:
    values = np.asarray(y_pred, dtype=np.float64)
    if values.ndim == 1 and times.shape[0] == 1:
        values = values[:, np.newaxis]
    if values.ndim != 2:
        raise ValueError(
            "y_pred must be a survival DataFrame (index = time, one column per sample), "
            "a sequence of StepFunction, or an array of shape (n_samples, n_times); "
            f"got an array of shape {values.shape}"
        )
    check_n_samples(values.shape[0], n_samples)
    if values.shape[1] != times.shape[0]:
        raise ValueError(
            f"y_pred has {values.shape[1]} columns but {times.shape[0]} times were given; "
            "an array prediction needs one column per evaluation time"
        )
    return values


def is_survival_function(y_pred: Any) -> bool:
    """Whether ``y_pred`` holds survival functions (DataFrame or StepFunctions)."""
    return isinstance(y_pred, pd.DataFrame) or _is_step_functions(y_pred)
