"""Harrell's and Uno's concordance index, thin wrappers over scikit-survival."""

from __future__ import annotations

from typing import Any

import numpy as np
from sksurv.metrics import concordance_index_censored, concordance_index_ipcw
from sksurv.nonparametric import CensoringDistributionEstimator

from ._validation import check_risk, check_target, check_train_target


def concordance_index_harrell(
    y_true: Any, y_pred: Any, *, y_train: Any = None, times: Any = None
) -> float:
    """Harrell's concordance index.

    The fraction of comparable pairs (the shorter time is an event) in which the
    sample with the shorter time has the higher risk; ties in risk count 1/2.
    Computed by :func:`sksurv.metrics.concordance_index_censored`, so it agrees
    with ``lifelines.utils.concordance_index(time, -y_pred, event)``; the one
    difference is that risks within 1e-8 of each other count as tied here
    (scikit-survival's tolerance) and only exactly equal risks in lifelines, which
    matters for risks with floating-point rounding noise.

    Parameters
    ----------
    y_true : structured array, DataFrame or tuple
        Observed survival, shape (n_samples,), in any accepted target form.
    y_pred : array-like of shape (n_samples,)
        Risk scores: higher means an earlier event (``estimator.predict(X)``).
    y_train : ignored
        Accepted for the common metric signature; Harrell's C does not use it.
    times : ignored
        Accepted for the common metric signature; Harrell's C does not use it.

    Returns
    -------
    float
        Concordance index in [0, 1]; 0.5 is a random ranking.

    Raises
    ------
    ValueError
        If ``y_pred`` has the wrong length or NaN values, or there is no
        comparable pair.
    """
    y = check_target(y_true, "y_true")
    risk = check_risk(y_pred, y.shape[0])
    return float(concordance_index_censored(y["event"], y["time"], risk)[0])


def concordance_index_uno(
    y_true: Any,
    y_pred: Any,
    *,
    y_train: Any = None,
    times: Any = None,
    tau: float | None = None,
) -> float:
    """Uno's inverse-probability-of-censoring weighted concordance index.

    Computed by :func:`sksurv.metrics.concordance_index_ipcw`. The censoring
    distribution is the Kaplan–Meier estimate on ``y_train``.

    Parameters
    ----------
    y_true : structured array, DataFrame or tuple
        Observed survival of the evaluated samples, shape (n_samples,).
    y_pred : array-like of shape (n_samples,)
        Risk scores: higher means an earlier event.
    y_train : structured array, DataFrame or tuple, optional
        Survival data the censoring distribution is estimated on, usually the
        training data. Defaults to ``y_true`` (the censoring distribution of the
        evaluated samples themselves, as a scorer inside cross-validation has to).
    times : ignored
        Accepted for the common metric signature; use ``tau`` to truncate.
    tau : float, optional
        Truncation time: only events before ``tau`` count as the earlier member
        of a pair. scikit-survival raises when an event time lies where the
        censoring distribution estimated on ``y_train`` is zero or undefined.
        The default is the latest time at which it is defined and positive: just
        past the largest time of ``y_train`` when that time has no censoring, the
        largest time otherwise. Where ``tau=None`` works in scikit-survival this
        default gives the identical value; pass a smaller ``tau`` (for example the
        end of the follow-up of interest) for a less variable estimate.

    Returns
    -------
    float
        Concordance index in [0, 1].

    Raises
    ------
    ValueError
        If ``y_pred`` has the wrong length or NaN values, or there is no
        comparable pair before ``tau``.
    """
    y = check_target(y_true, "y_true")
    train = check_train_target(y_train, y)
    risk = check_risk(y_pred, y.shape[0])
    if tau is None:
        tau = default_tau(train)
    elif not np.isfinite(tau) or tau <= 0:
        raise ValueError(f"tau must be a positive finite time; got {tau!r}")
    return float(concordance_index_ipcw(train, y, risk, tau=float(tau))[0])


def default_tau(y_train: np.ndarray) -> float:
    """Latest truncation time at which the censoring survival of ``y_train`` is positive.

    Parameters
    ----------
    y_train : numpy.ndarray
        Structured survival target (fields ``event``, ``time``).

    Returns
    -------
    float
        A ``tau`` for :func:`sksurv.metrics.concordance_index_ipcw` (which keeps
        events with ``time < tau``) that never makes it raise.
    """
    last = float(y_train["time"].max())
    censoring = CensoringDistributionEstimator().fit(y_train)
    if censoring.predict_proba(np.array([last]))[0] > 0:
        return float(np.nextafter(last, np.inf))
    return last
