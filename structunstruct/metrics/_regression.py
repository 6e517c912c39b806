"""Proper scoring rules of predictive distributions (regression).

The continuous ranked probability score of a predictive distribution ``F`` at an
observation ``y`` is ``CRPS(F, y) = int (F(z) - 1{y <= z})^2 dz`` (lower is better,
in the units of ``y``). It equals twice the integral of the pinball (quantile) loss
over all levels (Gneiting & Raftery 2007; Laio & Tamea 2007),

    CRPS(F, y) = 2 * int_0^1 rho_tau(y - F^{-1}(tau)) dtau,
    rho_tau(u) = u * (tau - 1{u < 0}),

which needs only quantiles, so it applies to every family (continuous or discrete)
that predicts quantiles. The integral is taken by the midpoint rule on
``n_levels`` equally spaced levels.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def quantile_levels(n_levels: int = 199) -> np.ndarray:
    """Midpoints ``(k - 0.5) / n_levels``, shape (n_levels,)."""
    if n_levels < 1:
        raise ValueError(f"n_levels must be positive; got {n_levels}")
    return (np.arange(1, n_levels + 1) - 0.5) / n_levels


def crps_from_quantiles(y: Any, quantiles: Any, levels: Any) -> np.ndarray:
    """CRPS per observation from predicted quantiles (midpoint rule over the levels).

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Observations.
    quantiles : array-like of shape (n_samples, n_levels)
        Predicted quantiles of each row at ``levels``.
    levels : array-like of shape (n_levels,)
        Equally spaced midpoints of (0, 1), as :func:`quantile_levels`.

    Returns
    -------
    ndarray of shape (n_samples,)
        CRPS of each row (lower is better).
    """
    y = np.asarray(y, dtype=np.float64).reshape(-1, 1)
    q = np.asarray(quantiles, dtype=np.float64)
    tau = np.asarray(levels, dtype=np.float64).reshape(1, -1)
    if q.shape != (y.shape[0], tau.shape[1]):
        raise ValueError(
            f"quantiles must have shape (n_samples, n_levels) = {(y.shape[0], tau.shape[1])}; "
            f"got {q.shape}"
        )
    u = y - q
    pinball = u * (tau - (u < 0))
    return 2.0 * pinball.mean(axis=1)


def crps(estimator: Any, X: Any, y: Any, n_levels: int = 199) -> float:
    """Mean CRPS of ``estimator.predict_quantile(X, levels)`` at ``y``.

    Parameters
    ----------
    estimator : fitted regressor
        Has ``predict_quantile(X, q)`` returning shape (n_samples, len(q)).
    X : DataFrame or array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    n_levels : int, default=199

    Returns
    -------
    float
        Mean CRPS over the rows (lower is better).
    """
    levels = quantile_levels(n_levels)
    return float(crps_from_quantiles(y, estimator.predict_quantile(X, levels), levels).mean())
