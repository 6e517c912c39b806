"""Calibration: by risk group at a time, D-calibration, and the integrated calibration index.

- :func:`calibration_curve`: predicted survival at ``t`` against Kaplan–Meier in
  groups of predicted risk.
- :func:`d_calibration`: are the predicted survival probabilities at the observed
  times uniform (Haider et al. 2020)?
- :func:`integrated_calibration_index`: mean distance of predicted risk at ``t`` from
  a smoothed observed risk (Austin, Harrell & van Klaveren 2020).
"""

from __future__ import annotations

from numbers import Integral
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy import stats
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


# -- D-calibration (Haider et al. 2020) -----------------------------------------------------
class DCalibrationResult(NamedTuple):
    """Result of :func:`d_calibration`.

    Parameters
    ----------
    statistic : float
        Pearson's chi-square statistic of the bin counts against equal counts.
    pvalue : float
        Its p-value on ``n_bins - 1`` degrees of freedom; a small value says the
        predicted survival probabilities are not uniform (the model is not
        D-calibrated).
    counts : numpy.ndarray of shape (n_bins,)
        Expected number of samples per bin of predicted survival probability,
        bin 0 = ``[0, 1/n_bins)``; sums to the number of samples.
    """

    statistic: float
    pvalue: float
    counts: np.ndarray


def d_calibration(
    y_true: Any, y_pred: Any, *, y_train: Any = None, times: Any = None, n_bins: int = 10
) -> DCalibrationResult:
    """Distribution calibration (D-calibration) of predicted survival curves.

    For a calibrated model the predicted survival probability at the observed event
    time, ``S_i(T_i)``, is uniform on [0, 1] (Haider, Hoehn, Davis & Greiner 2020,
    *Effective ways to build and evaluate individual survival distributions*,
    JMLR 21(85)). The unit interval is cut into ``n_bins`` equal bins; an event
    adds 1 to the bin holding ``s = S_i(T_i)``, a censored sample (whose event
    falls after its censoring time, so below ``s``) is spread as the paper does:
    ``(s - l)/s`` to the bin ``[l, u)`` holding ``s`` and ``(u - l)/s`` to each bin
    below it (a censored ``s = 0`` adds 1 to bin 0). The counts are compared with
    ``n/n_bins`` each by Pearson's chi-square test.

    Parameters
    ----------
    y_true : structured array, DataFrame or tuple
        Observed survival, shape (n_samples,).
    y_pred : DataFrame, sequence of StepFunction or array-like
        Predicted survival functions (a DataFrame as from
        ``predict_survival_function(X)``, or scikit-survival StepFunctions), each
        evaluated at its own sample's observed time; or an array of shape
        (n_samples,) of ``S_i(T_i)`` already evaluated.
    y_train : structured array, DataFrame or tuple, optional
        Unused (the one metrics signature).
    times : None
        Unused: each sample is evaluated at its own observed time.
    n_bins : int, default=10
        Number of equal-width bins of survival probability.

    Returns
    -------
    DCalibrationResult
        ``statistic``, ``pvalue`` and ``counts``.
    """
    del y_train
    if times is not None:
        raise ValueError("d_calibration evaluates each sample at its own time; times must be None")
    if not isinstance(n_bins, Integral) or n_bins < 2:
        raise ValueError(f"n_bins must be an integer >= 2; got {n_bins!r}")
    y = check_target(y_true, "y_true")
    s = np.clip(survival_at_own_time(y_pred, y["time"]), 0.0, 1.0)
    counts = _d_calibration_counts(s, y["event"].astype(bool), int(n_bins))
    expected = y.shape[0] / n_bins
    statistic = float(((counts - expected) ** 2).sum() / expected)
    return DCalibrationResult(statistic, float(stats.chi2.sf(statistic, n_bins - 1)), counts)


def _d_calibration_counts(s: np.ndarray, event: np.ndarray, n_bins: int) -> np.ndarray:
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    holding = np.minimum((s * n_bins).astype(np.int64), n_bins - 1)
    counts = np.bincount(holding[event], minlength=n_bins).astype(np.float64)
    s_c, bin_c = s[~event], holding[~event]
    zero = s_c <= 0.0
    counts[0] += zero.sum()
    s_c, bin_c = s_c[~zero], bin_c[~zero]
    np.add.at(counts, bin_c, (s_c - edges[bin_c]) / s_c)
    below = np.arange(n_bins)[np.newaxis, :] < bin_c[:, np.newaxis]
    counts += (below * ((1.0 / n_bins) / s_c)[:, np.newaxis]).sum(axis=0)
    return counts


def survival_at_own_time(y_pred: Any, times: np.ndarray) -> np.ndarray:
    """Predicted survival of each sample at its own time, shape (n_samples,).

    ``y_pred`` is a survival DataFrame (index = time, one column per sample; read as
    a right-continuous step function, 1 before its first time), a sequence of
    StepFunctions, or an array of shape (n_samples,) already evaluated.
    """
    n = times.shape[0]
    if isinstance(y_pred, pd.DataFrame):
        check_n_samples(y_pred.shape[1], n, "y_pred (one column per sample)")
        values = check_finite(y_pred.to_numpy(dtype=np.float64))
        grid = np.asarray(y_pred.index, dtype=np.float64)
        row = np.searchsorted(grid, times, side="right") - 1
        out = values[np.clip(row, 0, None), np.arange(n)]
        return np.where(row < 0, 1.0, out)
    if is_survival_function(y_pred):
        check_n_samples(len(y_pred), n)
        return np.array([survival_at([fn], np.array([t]), 1)[0, 0] for fn, t in zip(y_pred, times)])
    values = np.asarray(y_pred, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(
            "y_pred must be survival functions or an array of shape (n_samples,) of "
            f"S_i(T_i); got an array of shape {values.shape}"
        )
    check_n_samples(values.shape[0], n)
    return check_finite(values)


# -- integrated calibration index (Austin, Harrell & van Klaveren 2020) --------------------
# predicted survival is kept inside (0, 1), where its complementary log-log is finite
_TINY = float(np.finfo(np.float64).tiny)
_BELOW_ONE = float(np.nextafter(1.0, 0.0))

class SmoothedCalibration(NamedTuple):
    """Predicted and smoothed observed risk at a horizon, per sample.

    Parameters
    ----------
    t : float
        The horizon.
    predicted : numpy.ndarray of shape (n_samples,)
        Predicted risk ``1 - S_i(t)``.
    observed : numpy.ndarray of shape (n_samples,)
        Smoothed observed risk at ``t`` given the predicted risk (see
        :func:`integrated_calibration_index`).
    """

    t: float
    predicted: np.ndarray
    observed: np.ndarray


def smoothed_calibration(
    y_true: Any, y_pred: Any, *, y_train: Any = None, times: Any = None
) -> SmoothedCalibration:
    """Smoothed observed risk at a horizon against predicted risk (Austin et al. 2020).

    A Cox model (lifelines' :class:`~lifelines.CoxPHFitter`, Efron ties, Breslow
    baseline) is fitted to the observed survival with a restricted cubic spline of
    three knots (10th, 50th and 90th percentiles, Harrell's ``rcs``) of the
    complementary log-log of the predicted risk, ``log(-log(S_i(t)))``, as its
    covariates; its predicted risk at ``t`` (Breslow's step-function baseline) is
    the observed risk of each sample. It equals R's ``coxph`` on
    ``ns(cll, knots, Boundary.knots)`` with ``survfit`` at ``t`` (a test fixture).
    This is the hazard-regression variant of Austin, Harrell & van Klaveren (2020),
    *Graphical calibration curves and the integrated calibration index (ICI) for
    survival models*, Statistics in Medicine 39(21).

    Parameters
    ----------
    y_true : structured array, DataFrame or tuple
        Observed survival, shape (n_samples,).
    y_pred : array-like of shape (n_samples,), DataFrame or sequence of StepFunction
        Predicted survival at ``t``, or survival functions evaluated at ``t``.
    y_train : structured array, DataFrame or tuple, optional
        Unused (the one metrics signature).
    times : float, optional
        The horizon ``t``; default the median of the observed event times.

    Returns
    -------
    SmoothedCalibration
    """
    del y_train
    y = check_target(y_true, "y_true")
    t = _horizon(times, y)
    survival = np.clip(_predicted_at(y_pred, t, y.shape[0]), _TINY, _BELOW_ONE)
    cll = np.log(-np.log(survival))
    if np.ptp(cll) <= 1e-12:
        raise ValueError("y_pred predicts the same survival at t for every sample; "
                         "a calibration curve needs varying predictions")
    observed = _cox_rcs_risk(y, restricted_cubic_splines(cll), t)
    return SmoothedCalibration(t, 1.0 - survival, observed)


def integrated_calibration_index(
    y_true: Any, y_pred: Any, *, y_train: Any = None, times: Any = None
) -> float:
    """Integrated calibration index (ICI) at a horizon ``t``.

    The mean absolute difference between predicted risk ``1 - S_i(t)`` and the
    smoothed observed risk of :func:`smoothed_calibration` (Austin, Harrell & van
    Klaveren 2020, hazard regression of the outcome on a restricted cubic spline of
    the complementary log-log predicted risk). 0 is perfect calibration.

    Parameters
    ----------
    y_true : structured array, DataFrame or tuple
        Observed survival, shape (n_samples,).
    y_pred : array-like of shape (n_samples,), DataFrame or sequence of StepFunction
        Predicted survival at ``t``, or survival functions evaluated at ``t``.
    y_train : structured array, DataFrame or tuple, optional
        Unused (the one metrics signature).
    times : float, optional
        The horizon ``t``; default the median of the observed event times.

    Returns
    -------
    float
    """
    curve = smoothed_calibration(y_true, y_pred, y_train=y_train, times=times)
    return float(np.mean(np.abs(curve.predicted - curve.observed)))


def _horizon(times: Any, y: np.ndarray) -> float:
    if times is None:
        return float(np.median(y["time"][y["event"]]))
    t = np.asarray(times, dtype=np.float64)
    if t.size != 1:
        raise ValueError(f"times must be one horizon t for this metric; got {t.size} values")
    return float(t.reshape(()))


def restricted_cubic_splines(x: np.ndarray, n_knots: int = 3) -> np.ndarray:
    """Harrell's restricted cubic spline basis (``rms::rcs``), knots at quantiles of ``x``.

    Knots at the quantiles 0.1, 0.5, 0.9 of ``x`` for three knots and 0.05, 0.35,
    0.65, 0.95 for four, as ``rms::rcs``. Columns: ``x`` and ``n_knots - 2``
    nonlinear terms, each linear beyond the outer knots, scaled by
    ``(k_last - k_first)**2``.

    Parameters
    ----------
    x : numpy.ndarray of shape (n_samples,)
    n_knots : {3, 4}, default=3

    Returns
    -------
    numpy.ndarray of shape (n_samples, n_knots - 1)
    """
    levels = {3: [0.1, 0.5, 0.9], 4: [0.05, 0.35, 0.65, 0.95]}[n_knots]
    k = np.quantile(x, levels)
    scale = (k[-1] - k[0]) ** 2

    def cube(v: np.ndarray) -> np.ndarray:
        return np.clip(v, 0.0, None) ** 3

    columns = [x]
    for j in range(n_knots - 2):
        term = (cube(x - k[j]) - cube(x - k[-2]) * (k[-1] - k[j]) / (k[-1] - k[-2])
                + cube(x - k[-1]) * (k[-2] - k[j]) / (k[-1] - k[-2]))
        columns.append(term / scale)
    return np.column_stack(columns)


def _cox_rcs_risk(y: np.ndarray, basis: np.ndarray, t: float) -> np.ndarray:
    from lifelines import CoxPHFitter

    names = [f"rcs{j}" for j in range(basis.shape[1])]
    data = pd.DataFrame(basis, columns=names).assign(
        __time=y["time"], __event=y["event"].astype(int)
    )
    fitter = CoxPHFitter().fit(data, duration_col="__time", event_col="__event")
    # Breslow's cumulative hazard as the step function it is (lifelines' ``times=``
    # would interpolate it linearly between event times)
    baseline = fitter.baseline_cumulative_hazard_.iloc[:, 0]
    row = np.searchsorted(baseline.index.to_numpy(), t, side="right") - 1
    cumulative = float(baseline.iloc[row]) if row >= 0 else 0.0
    partial = fitter.predict_partial_hazard(data[names]).to_numpy()
    return 1.0 - np.exp(-cumulative * partial)
