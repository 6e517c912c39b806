"""The time grid of the logistic-hazard head (numpy only)."""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral

import numpy as np


def kaplan_meier_steps(time: np.ndarray, event: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan-Meier survival at 0 and at every unique observed time (events and censorings).

    Returns
    -------
    times, survival : ndarray
        ``times[0] = 0`` with ``survival[0] = 1`` (when every time is positive), then the
        unique times and the estimate just after each.
    """
    unique, inverse = np.unique(time, return_inverse=True)
    deaths = np.bincount(inverse, weights=event.astype(float), minlength=len(unique))
    leaving = np.bincount(inverse, minlength=len(unique))
    at_risk = len(time) - np.concatenate([[0], np.cumsum(leaving)[:-1]])
    survival = np.cumprod(1.0 - deaths / at_risk)
    if unique[0] > 0:
        unique, survival = np.concatenate([[0.0], unique]), np.concatenate([[1.0], survival])
    return unique, survival


def quantile_cuts(time: np.ndarray, event: np.ndarray, n_cuts: int) -> np.ndarray:
    """``n_cuts`` grid points at equidistant values of the Kaplan-Meier curve.

    The scheme ``"quantiles"`` of pycox's ``LabTransDiscreteTime``
    (``pycox.preprocessing.discretization.cuts_quantiles`` with ``min_=0``): the survival
    levels ``linspace(min S, max S, n_cuts)`` are mapped to the largest time at which
    the curve is still at or above them; the first cut is 0 and the last the largest
    observed time. Repeated times are merged, so fewer cuts may result.
    """
    times, survival = kaplan_meier_steps(time, event)
    levels = np.linspace(survival.min(), survival.max(), n_cuts)
    index = np.searchsorted(survival[::-1], levels)[::-1]
    cuts = np.unique(times[::-1][index])
    cuts[0] = 0.0
    return cuts.astype(np.float64)


def resolve_discrete_cuts(time: np.ndarray, event: np.ndarray, cuts: int | Sequence[float]) -> np.ndarray:
    """The grid of ``cuts``: a number of quantile cuts (:func:`quantile_cuts`) or explicit points.

    Raises
    ------
    ValueError
        If ``cuts`` is an integer below 2, or explicit cuts are not finite, non-negative
        and strictly increasing, or the training rows have no event.
    """
    if not np.asarray(event).any():
        raise ValueError("the training data have no event: the interval hazards cannot be estimated")
    if isinstance(cuts, Integral) and not isinstance(cuts, bool):
        if cuts < 2:
            raise ValueError(f"cuts must be at least 2 grid points; got {cuts}")
        return quantile_cuts(np.asarray(time, dtype=np.float64), np.asarray(event, dtype=bool), int(cuts))
    grid = np.asarray(cuts, dtype=np.float64).reshape(-1)
    if grid.size < 2 or not np.isfinite(grid).all() or (grid < 0).any() or (np.diff(grid) <= 0).any():
        raise ValueError(f"cuts must be an integer or at least 2 finite, non-negative, strictly increasing "
                         f"times; got {cuts!r}")
    return grid


__all__ = ["kaplan_meier_steps", "quantile_cuts", "resolve_discrete_cuts"]
