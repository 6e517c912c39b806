"""Cumulative/dynamic time-dependent AUC, a thin wrapper over scikit-survival."""

from __future__ import annotations

from typing import Any

import numpy as np
from sksurv import metrics as sksurv_metrics

from ._predictions import is_survival_function, survival_at
from ._times import resolve_times
from ._validation import check_risk, check_target, check_train_target


def time_dependent_auc(
    y_true: Any, y_pred: Any, *, y_train: Any = None, times: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative/dynamic AUC at each evaluation time.

    At time ``t`` the cases are the samples with an event at or before ``t``
    (weighted by inverse probability of censoring), the controls those still
    event-free after ``t``. Computed by :func:`sksurv.metrics.cumulative_dynamic_auc`.

    Parameters
    ----------
    y_true : structured array, DataFrame or tuple
        Observed survival of the evaluated samples, shape (n_samples,).
    y_pred : array-like, DataFrame or sequence of StepFunction
        Risk: an array of shape (n_samples,) (one risk per sample, higher =
        earlier event) or (n_samples, n_times) (a risk at each of ``times``); or
        predicted survival functions (a DataFrame as from
        ``predict_survival_function(X)``, or scikit-survival StepFunctions), whose
        risk at ``t`` is ``1 - S(t)``.
    y_train : structured array, DataFrame or tuple, optional
        Survival data for the censoring distribution; defaults to ``y_true``.
    times : array-like of shape (n_times,), optional
        Strictly increasing evaluation times inside the follow-up window.
        Default: :func:`default_time_grid` of ``y_true`` (50 points from the 10th to
        the 80th percentile of its event times), kept inside the follow-up of
        ``y_train``.

    Returns
    -------
    times : numpy.ndarray of shape (n_times,)
        The evaluation times.
    auc : numpy.ndarray of shape (n_times,)
        The AUC at each time.
    """
    return _auc(y_true, y_pred, y_train, times)[:2]


def cumulative_dynamic_auc(
    y_true: Any, y_pred: Any, *, y_train: Any = None, times: Any = None
) -> float:
    """Mean cumulative/dynamic AUC over ``times``.

    The mean is scikit-survival's: the AUC integrated over the Kaplan–Meier
    estimate of ``y_true``, ``sum_k AUC(t_k) (S(t_{k-1}) - S(t_k)) / (1 - S(t_K))``
    (Lambert and Chevret), not the plain average. Parameters as in
    :func:`time_dependent_auc`.

    Parameters
    ----------
    y_true : structured array, DataFrame or tuple
        Observed survival of the evaluated samples, shape (n_samples,).
    y_pred : array-like, DataFrame or sequence of StepFunction
        Risk of shape (n_samples,) or (n_samples, n_times), or survival functions.
    y_train : structured array, DataFrame or tuple, optional
        Survival data for the censoring distribution; defaults to ``y_true``.
    times : array-like of shape (n_times,), optional
        Evaluation times; default :func:`default_time_grid` of ``y_true``.

    Returns
    -------
    float
        The mean AUC in [0, 1]; 0.5 is a random ranking.
    """
    return _auc(y_true, y_pred, y_train, times)[2]


def _auc(
    y_true: Any, y_pred: Any, y_train: Any, times: Any
) -> tuple[np.ndarray, np.ndarray, float]:
    y = check_target(y_true, "y_true")
    train = check_train_target(y_train, y)
    times = resolve_times(times, y, train)
    if is_survival_function(y_pred):
        risk = 1.0 - survival_at(y_pred, times, y.shape[0])
    else:
        risk = check_risk(y_pred, y.shape[0], allow_2d=True)
    if risk.ndim == 2 and risk.shape[1] != times.shape[0]:
        raise ValueError(
            f"y_pred has {risk.shape[1]} columns but {times.shape[0]} times were given"
        )
    auc, mean_auc = sksurv_metrics.cumulative_dynamic_auc(
        train, _censor_after(y, times[-1]), risk, times
    )
    return times, np.asarray(auc, dtype=np.float64), float(mean_auc)


def _censor_after(y: np.ndarray, last_time: float) -> np.ndarray:
    """Mark events after the last evaluation time as censored.

    Such samples are controls at every evaluation time whatever their status,
    and the Kaplan–Meier weights up to ``last_time`` do not depend on it, so the
    AUC is unchanged; scikit-survival would otherwise need the censoring
    distribution at their times, which may lie beyond the follow-up of ``y_train``.
    """
    out = y.copy()
    out["event"] &= out["time"] <= last_time
    return out
