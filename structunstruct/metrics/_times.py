"""Evaluation time grids and the follow-up window that scikit-survival requires."""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np

from ._validation import check_target, check_times


def follow_up_window(y_true: np.ndarray, y_train: np.ndarray) -> tuple[float, float]:
    """Return the half-open window ``[start, stop)`` in which metrics can be evaluated.

    scikit-survival needs every evaluation time inside the follow-up of the test
    data, ``[min(test time), max(test time))``, and the censoring distribution,
    a Kaplan–Meier estimate on ``y_train``, defined and positive there. That
    estimate is positive at every time before the largest training time, so the
    window is ``[min(y_true time), min(max(y_true time), max(y_train time)))``.

    Parameters
    ----------
    y_true, y_train : numpy.ndarray
        Structured survival targets (fields ``event``, ``time``).

    Returns
    -------
    tuple of float
        ``(start, stop)``; a valid time ``t`` satisfies ``start <= t < stop``.
    """
    start = float(y_true["time"].min())
    stop = float(min(y_true["time"].max(), y_train["time"].max()))
    return start, stop


def quantile_grid(
    y_true: np.ndarray,
    window: tuple[float, float],
    *,
    n_times: int = 50,
    lower: float = 0.1,
    upper: float = 0.8,
) -> np.ndarray:
    """Evenly spaced times between two quantiles of the event times, inside ``window``."""
    _check_grid_params(n_times, lower, upper)
    event_times = y_true["time"][y_true["event"]]
    lo, hi = np.quantile(event_times, [lower, upper])
    start, stop = window
    lo = max(float(lo), start)
    hi = min(float(hi), float(np.nextafter(stop, -np.inf)))
    if not hi > lo:
        raise ValueError(
            f"cannot build a time grid: the {lower:.0%}–{upper:.0%} quantiles of the event "
            f"times do not overlap the follow-up window [{start:g}, {stop:g}); pass times="
        )
    return np.linspace(lo, hi, n_times)


def _check_grid_params(n_times: Any, lower: Any, upper: Any) -> None:
    if not isinstance(n_times, Integral) or isinstance(n_times, bool) or n_times < 2:
        raise ValueError(f"n_times must be an integer >= 2; got {n_times!r}")
    for name, value in (("lower", lower), ("upper", upper)):
        if not isinstance(value, Real) or not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be a quantile level in [0, 1]; got {value!r}")
    if not lower < upper:
        raise ValueError(f"lower must be smaller than upper; got lower={lower}, upper={upper}")


def default_time_grid(
    y: Any, n_times: int = 50, lower: float = 0.1, upper: float = 0.8
) -> np.ndarray:
    """Default evaluation times for the time-dependent metrics.

    ``n_times`` evenly spaced points from the ``lower`` to the ``upper`` quantile
    of the observed event times of ``y`` (by default 50 points from the 10th to
    the 80th percentile: the protocol of the structunstruct benchmark suite),
    moved inside the follow-up ``[min(time), max(time))`` if needed.

    Parameters
    ----------
    y : structured array, DataFrame or tuple
        Survival target in any accepted form.
    n_times : int, default=50
        Number of time points (at least 2).
    lower, upper : float, default=0.1, 0.8
        Quantile levels of the event times bounding the grid.

    Returns
    -------
    numpy.ndarray
        Strictly increasing times of shape (n_times,).

    Raises
    ------
    ValueError
        If the parameters are invalid or the quantiles collapse to one point.

    Examples
    --------
    >>> from sksurv.datasets import load_gbsg2
    >>> _, y = load_gbsg2()
    >>> grid = default_time_grid(y)
    >>> grid.shape
    (50,)
    """
    y = check_target(y, "y")
    return quantile_grid(y, follow_up_window(y, y), n_times=n_times, lower=lower, upper=upper)


def resolve_times(times: Any, y_true: np.ndarray, y_train: np.ndarray) -> np.ndarray:
    """Return ``times`` validated against the follow-up window, or the default grid.

    Parameters
    ----------
    times : array-like of shape (n_times,) or None
        Evaluation times; None gives the default grid of :func:`default_time_grid`
        computed on ``y_true`` and restricted to the follow-up window.
    y_true, y_train : numpy.ndarray
        Structured survival targets.

    Returns
    -------
    numpy.ndarray
        Strictly increasing times inside :func:`follow_up_window`.
    """
    window = follow_up_window(y_true, y_train)
    if times is None:
        return quantile_grid(y_true, window)
    times = check_times(times)
    start, stop = window
    if times[0] < start or times[-1] >= stop:
        raise ValueError(
            f"times must lie in the follow-up window [{start:g}, {stop:g}) (from the smallest "
            f"time in y_true to the largest time in y_true and y_train); got times from "
            f"{times[0]:g} to {times[-1]:g}"
        )
    return times
