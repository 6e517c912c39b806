"""Predicted distributions and prediction intervals of ``SemiStructuredRegressor``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ._axes import fitted, get_ax


def predicted_density(model: Any, X: pd.DataFrame, grid: Any) -> np.ndarray:
    """Density (or probability mass) of each row's predicted distribution on ``grid``.

    Parameters
    ----------
    model : fitted SemiStructuredRegressor
    X : pandas.DataFrame
    grid : array-like of shape (n_points,)

    Returns
    -------
    numpy.ndarray of shape (n_points, n_samples)
    """
    fitted(model, "family_")
    params = {k: v.to_numpy()[np.newaxis, :] for k, v in model.predict_distribution(X).items()}
    distribution = model.family_.scipy_distribution(params)
    points = np.asarray(grid, dtype=np.float64)[:, np.newaxis]
    if hasattr(distribution, "pdf"):
        return distribution.pdf(points)
    return distribution.pmf(points)


def plot_predicted_distribution(
    model: Any,
    X: pd.DataFrame,
    y: Any = None,
    *,
    grid: Any = None,
    coverage: float = 0.9,
    ax: Any = None,
) -> Any:
    """Predicted densities of a few rows, their prediction intervals and observed values.

    For each row of ``X`` (keep it to a handful) the density of its predicted
    distribution (:meth:`predict_distribution` through the family) is drawn on
    ``grid``, with its equal-tailed ``coverage`` interval (:meth:`predict_interval`)
    as a horizontal bar under the curve and, when ``y`` is given, the observed value
    as a vertical line.

    Parameters
    ----------
    model : fitted SemiStructuredRegressor
    X : pandas.DataFrame
        A few rows.
    y : array-like of shape (n_samples,), optional
        Their observed values.
    grid : array-like, optional
        Points of the density; default 200 points spanning the 0.1% to 99.9%
        quantiles of the rows.
    coverage : float, default=0.9
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; default a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        One line per row, labelled by the row's index.
    """
    if grid is None:
        ends = model.predict_quantile(X, [0.001, 0.999])
        grid = np.linspace(ends[:, 0].min(), ends[:, 1].max(), 200)
    grid = np.asarray(grid, dtype=np.float64)
    density = predicted_density(model, X, grid)
    intervals = model.predict_interval(X, coverage=coverage)
    ax = get_ax(ax)
    depth = -0.03 * float(np.nanmax(density))
    for j, label in enumerate(X.index):
        color = f"C{j % 10}"
        ax.plot(grid, density[:, j], color=color, label=str(label))
        ax.hlines(depth * (j + 1), intervals[j, 0], intervals[j, 1], color=color, lw=3)
        if y is not None:
            ax.axvline(float(np.asarray(y)[j]), color=color, ls="--", lw=1)
    ax.set_xlabel("y")
    ax.set_ylabel("predicted density")
    ax.set_title(f"bars: {coverage:.0%} prediction intervals; dashed: observed", fontsize=9)
    ax.legend(fontsize=7, title="row")
    return ax


def plot_prediction_intervals(
    model: Any,
    X: pd.DataFrame,
    y: Any = None,
    *,
    x: str | None = None,
    coverage: float = 0.9,
    ax: Any = None,
) -> Any:
    """Predicted mean and prediction interval of every row, against a column or the rank.

    Rows are ordered by ``X[x]`` (or by the predicted mean when ``x`` is None); the
    band is :meth:`predict_interval` at ``coverage`` and the line :meth:`predict`.
    Observed values (``y``) are drawn as points, and the legend reports the share of
    them inside their intervals (the empirical coverage).

    Parameters
    ----------
    model : fitted SemiStructuredRegressor
    X : pandas.DataFrame
    y : array-like of shape (n_samples,), optional
    x : str, optional
        Column of ``X`` for the horizontal axis.
    coverage : float, default=0.9
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; default a new figure.

    Returns
    -------
    matplotlib.axes.Axes
    """
    mean = model.predict(X)
    intervals = model.predict_interval(X, coverage=coverage)
    if x is not None and x not in X.columns:
        raise KeyError(f"x column {x!r} is not a column of X")
    position = X[x].to_numpy(dtype=np.float64) if x is not None else _ranks(mean)
    order = np.argsort(position, kind="stable")
    ax = get_ax(ax)
    ax.fill_between(position[order], intervals[order, 0], intervals[order, 1], color="C0",
                    alpha=0.25, lw=0, label=f"{coverage:.0%} prediction interval")
    ax.plot(position[order], mean[order], color="C0", label="predicted mean")
    if y is not None:
        observed = np.asarray(y, dtype=np.float64)
        inside = np.mean((observed >= intervals[:, 0]) & (observed <= intervals[:, 1]))
        ax.plot(position, observed, ".", color="black", ms=3,
                label=f"observed ({inside:.0%} inside)")
    ax.set_xlabel(x if x is not None else "rank of the predicted mean")
    ax.set_ylabel("y")
    ax.legend(fontsize=7)
    return ax


def _ranks(values: np.ndarray) -> np.ndarray:
    ranks = np.empty(values.shape[0], dtype=np.float64)
    ranks[np.argsort(values, kind="stable")] = np.arange(values.shape[0])
    return ranks
