"""Predicted survival curves against Kaplan–Meier, by group or by risk quantile."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..data.targets import as_survival_target
from ._axes import get_ax, kaplan_meier, step


def risk_groups(risk: Any, n_groups: int = 3) -> np.ndarray:
    """Quantile group of each risk score: 0 (lowest) to ``n_groups - 1`` (highest).

    Groups have equal sizes up to one sample (ties are split by position).

    Parameters
    ----------
    risk : array-like of shape (n_samples,)
    n_groups : int, default=3
        Number of groups (3: terciles).

    Returns
    -------
    numpy.ndarray of shape (n_samples,), int
    """
    risk = np.asarray(risk, dtype=np.float64)
    if n_groups < 1:
        raise ValueError(f"n_groups must be at least 1; got {n_groups!r}")
    order = np.argsort(risk, kind="stable")
    groups = np.empty(risk.shape[0], dtype=np.int64)
    groups[order] = np.arange(risk.shape[0]) * n_groups // max(risk.shape[0], 1)
    return groups


def plot_survival(
    model: Any,
    X: pd.DataFrame,
    y: Any,
    *,
    groups: Any = None,
    n_groups: int = 3,
    times: Any = None,
    ci: bool = True,
    ax: Any = None,
) -> Any:
    """Mean predicted survival curve against the Kaplan–Meier curve, per group.

    For each group the predicted survival curves of its rows are averaged (solid
    line, label ``"predicted: <group>"``, drawn up to the last observed time of ``y``)
    and set against the Kaplan–Meier curve of
    the same rows (dashed, label ``"Kaplan–Meier: <group>"``; with ``ci`` its 95%
    log-log band). A calibrated model's solid curves follow the dashed ones.

    Parameters
    ----------
    model : fitted survival estimator
        Has ``predict(X)`` (risk) and ``predict_survival_function(X, times)``.
    X : pandas.DataFrame
        The rows to draw.
    y : structured array, DataFrame or tuple
        Their observed survival.
    groups : str, array-like of shape (n_samples,), or "all", optional
        A column of ``X`` or one label per row. Default: ``n_groups`` quantile groups
        of the predicted risk (``"low risk"`` to ``"high risk"``). ``"all"``: one
        group of every row.
    n_groups : int, default=3
        Number of risk quantile groups when ``groups`` is None.
    times : array-like, optional
        Time grid of the predicted curves (default the model's own).
    ci : bool, default=True
        Shade the Kaplan–Meier 95% confidence band.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; default a new figure.

    Returns
    -------
    matplotlib.axes.Axes
    """
    y = as_survival_target(y)
    if len(y) != len(X):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)}; they must be the same samples")
    labels = _group_labels(model, X, groups, n_groups)
    survival = model.predict_survival_function(X, times)
    survival = survival.loc[np.asarray(survival.index) <= y["time"].max()]  # the follow-up drawn
    ax = get_ax(ax)
    order = _risk_names(n_groups) if groups is None else sorted(pd.unique(labels), key=str)
    for k, label in enumerate(label for label in order if (labels == label).any()):
        members = np.asarray(labels == label)
        _draw_group(ax, survival.loc[:, members], y[members], str(label), f"C{k % 10}", ci)
    ax.set_xlabel("time")
    ax.set_ylabel("survival probability")
    ax.set_ylim(0.0, 1.02)
    ax.legend(fontsize=7, loc="lower left")
    return ax


def _draw_group(ax: Any, survival: pd.DataFrame, y: np.ndarray, label: str, color: str,
                ci: bool) -> None:
    times, km, band = kaplan_meier(y)
    step(ax, times, km, color=color, ls="--", label=f"Kaplan–Meier: {label}")
    if ci:
        ax.fill_between(times, band[0], band[1], step="post", color=color, alpha=0.12, lw=0)
    grid = np.asarray(survival.index, dtype=np.float64)
    mean = survival.mean(axis=1).to_numpy()
    if grid[0] > 0:
        grid, mean = np.r_[0.0, grid], np.r_[1.0, mean]
    ax.step(grid, mean, where="post", color=color, label=f"predicted: {label}")


def _group_labels(model: Any, X: pd.DataFrame, groups: Any, n_groups: int) -> np.ndarray:
    if groups is None:
        codes = risk_groups(model.predict(X), n_groups)
        names = _risk_names(n_groups)
        return np.array([names[c] for c in codes], dtype=object)
    if isinstance(groups, str) and groups == "all":
        return np.full(len(X), "all", dtype=object)
    if isinstance(groups, str):
        if groups not in X.columns:
            raise KeyError(f"groups column {groups!r} is not a column of X")
        return X[groups].astype(str).to_numpy(dtype=object)
    labels = np.asarray(groups, dtype=object)
    if labels.shape != (len(X),):
        raise ValueError(f"groups must have one label per row of X ({len(X)}); got {labels.shape}")
    return labels


def _risk_names(n_groups: int) -> list[str]:
    if n_groups == 3:
        return ["low risk", "middle risk", "high risk"]
    return [f"risk quantile {k + 1}/{n_groups}" for k in range(n_groups)]
