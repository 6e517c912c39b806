"""Time-dependent and integrated Brier score, thin wrappers over scikit-survival."""

from __future__ import annotations

from typing import Any

import numpy as np
from sksurv import metrics as sksurv_metrics

from ._predictions import is_survival_function, survival_at
from ._times import resolve_times
from ._validation import check_target, check_train_target


def brier_score(
    y_true: Any, y_pred: Any, *, y_train: Any = None, times: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """Inverse-probability-of-censoring weighted Brier score at each time.

    Computed by :func:`sksurv.metrics.brier_score` (Graf et al., 1999), with the
    censoring distribution estimated by Kaplan–Meier on ``y_train``.

    Parameters
    ----------
    y_true : structured array, DataFrame or tuple
        Observed survival of the evaluated samples, shape (n_samples,).
    y_pred : DataFrame, sequence of StepFunction or array-like
        Predicted survival probabilities: a DataFrame as returned by
        ``predict_survival_function(X)`` (index = time grid, one column per
        sample; read as a right-continuous step function, 1 before its first time),
        a sequence of scikit-survival StepFunctions (one per sample), or an array of
        shape (n_samples, n_times) already evaluated at ``times`` (then ``times`` is
        required).
    y_train : structured array, DataFrame or tuple, optional
        Survival data for the censoring distribution; defaults to ``y_true``.
    times : array-like of shape (n_times,), optional
        Strictly increasing evaluation times inside the follow-up window (from the
        smallest time of ``y_true`` to the largest time of ``y_true`` and
        ``y_train``, excluded). Default: :func:`default_time_grid` of ``y_true`` (50
        points from the 10th to the 80th percentile of its event times; the
        protocol of the structunstruct benchmark suite), kept inside that window.

    Returns
    -------
    times : numpy.ndarray of shape (n_times,)
        The evaluation times.
    scores : numpy.ndarray of shape (n_times,)
        The Brier score at each time (lower is better).
    """
    y = check_target(y_true, "y_true")
    train = check_train_target(y_train, y)
    times = _times_for(y_pred, times, y, train)
    survival = survival_at(y_pred, times, y.shape[0])
    times, scores = sksurv_metrics.brier_score(train, _clip_times(y, train), survival, times)
    return np.asarray(times, dtype=np.float64), np.asarray(scores, dtype=np.float64)


def integrated_brier_score(
    y_true: Any, y_pred: Any, *, y_train: Any = None, times: Any = None
) -> float:
    """Integrated Brier score over ``times``.

    The Brier scores of :func:`brier_score` integrated by the trapezoidal rule and
    divided by ``times[-1] - times[0]``, as :func:`sksurv.metrics.integrated_brier_score`
    does. A prediction of 0.5 for everyone scores 0.25; lower is better.

    Parameters
    ----------
    y_true : structured array, DataFrame or tuple
        Observed survival of the evaluated samples, shape (n_samples,).
    y_pred : DataFrame, sequence of StepFunction or array-like
        Predicted survival probabilities: a DataFrame as returned by
        ``predict_survival_function(X)`` (index = time grid, one column per
        sample; read as a right-continuous step function, 1 before its first time),
        a sequence of scikit-survival StepFunctions (one per sample), or an array of
        shape (n_samples, n_times) already evaluated at ``times`` (then ``times`` is
        required).
    y_train : structured array, DataFrame or tuple, optional
        Survival data for the censoring distribution; defaults to ``y_true``.
    times : array-like of shape (n_times,), optional
        At least two strictly increasing evaluation times; default
        :func:`default_time_grid` of ``y_true`` (50 points from the 10th to the 80th
        percentile of its event times), kept inside the follow-up window.

    Returns
    -------
    float
        The integrated Brier score.

    Examples
    --------
    >>> from sksurv.datasets import load_gbsg2
    >>> from sksurv.nonparametric import kaplan_meier_estimator
    >>> import numpy as np, pandas as pd
    >>> _, y = load_gbsg2()
    >>> t, s = kaplan_meier_estimator(y["cens"], y["time"])
    >>> km = pd.DataFrame(np.repeat(s[:, None], len(y), axis=1), index=t)
    >>> round(integrated_brier_score(y, km), 3) < 0.25
    True
    """
    y = check_target(y_true, "y_true")
    train = check_train_target(y_train, y)
    times = _times_for(y_pred, times, y, train)
    if times.shape[0] < 2:
        raise ValueError("integrated_brier_score needs at least two times")
    survival = survival_at(y_pred, times, y.shape[0])
    return float(
        sksurv_metrics.integrated_brier_score(train, _clip_times(y, train), survival, times)
    )


def _times_for(y_pred: Any, times: Any, y: np.ndarray, train: np.ndarray) -> np.ndarray:
    if times is None and not is_survival_function(y_pred):
        raise ValueError(
            "times is required when y_pred is an array of survival probabilities "
            "(its columns are matched to times); e.g. times=default_time_grid(y_true)"
        )
    return resolve_times(times, y, train)


def _clip_times(y: np.ndarray, train: np.ndarray) -> np.ndarray:
    """Clip test times at the largest training time.

    All evaluation times lie before the largest training time, so a clipped
    sample stays a control at every one of them and the score is unchanged;
    scikit-survival would otherwise evaluate the censoring distribution beyond
    the follow-up of ``y_train`` and raise.
    """
    out = y.copy()
    np.minimum(out["time"], train["time"].max(), out=out["time"])
    return out
