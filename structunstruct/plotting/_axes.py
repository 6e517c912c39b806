"""Shared helpers of the plots: an Axes to draw on, step curves, Kaplan–Meier."""

from __future__ import annotations

from typing import Any

import numpy as np


def get_ax(ax: Any = None, figsize: tuple[float, float] = (6.0, 4.0)) -> Any:
    """``ax`` itself, or the Axes of a new figure when ``ax`` is None."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, new = plt.subplots(figsize=figsize)
    return new


def step(ax: Any, times: np.ndarray, values: np.ndarray, **kwargs: Any) -> Any:
    """A survival step curve from (0, 1); returns the Line2D."""
    (line,) = ax.step(np.r_[0.0, times], np.r_[1.0, values], where="post", **kwargs)
    return line


def kaplan_meier(y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Kaplan–Meier curve of a structured target with its 95% log-log band.

    Returns
    -------
    times : ndarray of shape (n_times,)
        The distinct observed times.
    survival : ndarray of shape (n_times,)
    ci : ndarray of shape (2, n_times)
        Lower and upper 95% confidence limits.
    """
    from sksurv.nonparametric import kaplan_meier_estimator

    times, survival, ci = kaplan_meier_estimator(y["event"], y["time"], conf_type="log-log")
    return times, survival, ci


def fitted(model: Any, attribute: str) -> None:
    """Raise a clear error when ``model`` has no ``attribute`` (not fitted, or no such part)."""
    if not hasattr(model, attribute):
        raise ValueError(
            f"{type(model).__name__} has no {attribute}: fit it first "
            "(or this estimator does not provide it)"
        )
