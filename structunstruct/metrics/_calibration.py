"""Calibration at a fixed time: predicted survival against Kaplan–Meier by risk group."""

from __future__ import annotations

from numbers import Integral
from typing import Any

import numpy as np
import pandas as pd
from sksurv.nonparametric import kaplan_meier_estimator

from ._predictions import is_survival_function, survival_at
from ._validation import check_finite, check_n_samples, check_target

CALIBRATION_COLUMNS = [
    "n",
    "n_events",
    "predicted",
    "observed",
    "observed_lower",
    "observed_upper",
]


def calibration_curve(y_true: Any, survival_at_t: Any, t: float, n_bins: int = 10) -> pd.DataFrame:
    """Predicted against observed survival at time ``t`` in groups of predicted risk.

    Samples are sorted by predicted survival at ``t`` and split into ``n_bins``
    groups of (nearly) equal size. For each group the mean prediction is set
    against the Kaplan–Meier estimate of survival at ``t``
    (:func:`sksurv.nonparametric.kaplan_meier_estimator`) with its 95% log-log
    confidence interval. A well calibrated model lies on the diagonal.

    Parameters
    ----------
    y_true : structured array, DataFrame or tuple
        Observed survival, shape (n_samples,).
    survival_at_t : array-like of shape (n_samples,), DataFrame or sequence of StepFunction
        Predicted probability of surviving past ``t``, or survival functions (as
        from ``predict_survival_function(X)``) that are evaluated at ``t``.
    t : float
        The time at which calibration is assessed.
    n_bins : int, default=10
        Number of groups (at most the number of samples).

    Returns
    -------
    pandas.DataFrame
        One row per group, indexed by ``bin`` (0 = lowest predicted survival), with
        columns ``n``, ``n_events`` (events up to ``t``), ``predicted`` (mean
        predicted survival), ``observed`` (Kaplan–Meier survival at ``t``) and
        ``observed_lower``/``observed_upper`` (95% confidence interval). The
        observed values are NaN in a group whose follow-up ends before ``t`` with
        survival above 0, where Kaplan–Meier is undefined.
    """
    y = check_target(y_true, "y_true")
    predicted = _predicted_at(survival_at_t, float(t), y.shape[0])
    if not isinstance(n_bins, Integral) or not 1 <= n_bins <= y.shape[0]:
        raise ValueError(f"n_bins must be an integer in [1, {y.shape[0]}]; got {n_bins!r}")
    order = np.argsort(predicted, kind="stable")
    rows = [_bin_row(y[idx], predicted[idx], float(t)) for idx in np.array_split(order, n_bins)]
    frame = pd.DataFrame(rows, columns=CALIBRATION_COLUMNS)
    frame.index.name = "bin"
    return frame


def _predicted_at(survival_at_t: Any, t: float, n_samples: int) -> np.ndarray:
    if not np.isfinite(t) or t < 0:
        raise ValueError(f"t must be a non-negative finite time; got {t!r}")
    if is_survival_function(survival_at_t):
        return survival_at(survival_at_t, np.array([t]), n_samples)[:, 0]
    predicted = np.asarray(survival_at_t, dtype=np.float64)
    if predicted.ndim != 1:
        raise ValueError(
            f"survival_at_t must be 1-D (one probability per sample); got shape {predicted.shape}"
        )
    check_n_samples(predicted.shape[0], n_samples, "survival_at_t")
    return check_finite(predicted, "survival_at_t")


def _bin_row(y: np.ndarray, predicted: np.ndarray, t: float) -> list[float]:
    n_events = int((y["event"] & (y["time"] <= t)).sum())
    observed, lower, upper = _km_at(y, t)
    return [y.shape[0], n_events, float(predicted.mean()), observed, lower, upper]


def _km_at(y: np.ndarray, t: float) -> tuple[float, float, float]:
    """Kaplan–Meier survival and 95% log-log interval at ``t`` (NaN if undefined)."""
    times, survival, ci = kaplan_meier_estimator(y["event"], y["time"], conf_type="log-log")
    if t > y["time"].max() and survival[-1] > 0:
        return (np.nan,) * 3
    row = np.searchsorted(times, t, side="right") - 1
    if row < 0:
        return 1.0, 1.0, 1.0
    return float(survival[row]), float(ci[0, row]), float(ci[1, row])
