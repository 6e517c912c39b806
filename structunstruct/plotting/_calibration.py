"""Calibration plots: predicted against observed survival at a horizon, and D-calibration."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..metrics import calibration_curve, d_calibration, smoothed_calibration
from ._axes import get_ax


def plot_calibration(
    model: Any,
    X: pd.DataFrame,
    y: Any,
    t: float,
    *,
    n_bins: int = 10,
    smooth: bool = True,
    ax: Any = None,
) -> Any:
    """Predicted against observed survival at time ``t`` in groups of predicted risk.

    Points (label ``"groups"``): for each of ``n_bins`` equal-size groups of
    predicted survival at ``t``, the mean prediction (x) and the Kaplan–Meier
    survival of the group at ``t`` (y) with its 95% confidence interval as error
    bars — the values of :func:`structunstruct.metrics.calibration_curve`. With
    ``smooth``, the smoothed observed survival of
    :func:`structunstruct.metrics.smoothed_calibration` (hazard regression on the
    complementary log-log of the prediction, Austin et al. 2020) as a line, and its
    integrated calibration index in the legend. A calibrated model lies on the
    diagonal.

    Parameters
    ----------
    model : fitted survival estimator
        Has ``predict_survival_function(X, times)``.
    X : pandas.DataFrame
    y : structured array, DataFrame or tuple
        Observed survival of the rows of ``X``.
    t : float
        The horizon.
    n_bins : int, default=10
        Number of risk groups.
    smooth : bool, default=True
        Draw the smoothed calibration curve and report the ICI.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; default a new figure.

    Returns
    -------
    matplotlib.axes.Axes
    """
    survival = model.predict_survival_function(X, [float(t)]).to_numpy()[0]
    curve = calibration_curve(y, survival, t, n_bins=n_bins)
    ax = get_ax(ax, figsize=(4.8, 4.5))
    ax.plot([0, 1], [0, 1], color="grey", ls=":", lw=1, label="ideal")
    observed = curve["observed"].to_numpy(dtype=np.float64)
    errors = np.vstack([observed - curve["observed_lower"].to_numpy(dtype=np.float64),
                        curve["observed_upper"].to_numpy(dtype=np.float64) - observed])
    ax.errorbar(curve["predicted"].to_numpy(dtype=np.float64), observed, yerr=errors, fmt="o",
                color="C0", capsize=2, label="groups")
    if smooth:
        fit = smoothed_calibration(y, survival, times=t)
        order = np.argsort(fit.predicted)
        ici = float(np.mean(np.abs(fit.predicted - fit.observed)))
        ax.plot(1 - fit.predicted[order], 1 - fit.observed[order], color="C1",
                label=f"smoothed (ICI {ici:.3f})")
    ax.set_xlabel(f"predicted survival at t = {t:.4g}")
    ax.set_ylabel(f"observed survival at t = {t:.4g} (Kaplan–Meier)")
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.02)
    ax.legend(fontsize=7, loc="upper left")
    return ax


def plot_d_calibration(
    model: Any, X: pd.DataFrame, y: Any, *, n_bins: int = 10, ax: Any = None
) -> Any:
    """Histogram of the predicted survival probabilities at the observed times.

    The bars are the counts of :func:`structunstruct.metrics.d_calibration` divided
    by the number of samples (censored rows spread over bins as in Haider et al.
    2020); a D-calibrated model has flat bars at ``1 / n_bins`` (the dashed line).
    The title gives the chi-square p-value.

    Parameters
    ----------
    model : fitted survival estimator
        Has ``predict_survival_function(X)``.
    X : pandas.DataFrame
    y : structured array, DataFrame or tuple
        Observed survival of the rows of ``X``.
    n_bins : int, default=10
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; default a new figure.

    Returns
    -------
    matplotlib.axes.Axes
    """
    result = d_calibration(y, model.predict_survival_function(X), n_bins=n_bins)
    share = result.counts / result.counts.sum()
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    ax = get_ax(ax, figsize=(5.0, 3.8))
    ax.bar(edges[:-1], share, width=1.0 / n_bins, align="edge", color="C0", alpha=0.7,
           edgecolor="white", label="share of samples")
    ax.axhline(1.0 / n_bins, color="black", ls="--", lw=1, label="uniform")
    ax.set_xlabel("predicted survival probability at the observed time")
    ax.set_ylabel("share of samples")
    ax.set_title(f"D-calibration: chi² = {result.statistic:.1f}, p = {result.pvalue:.3g}",
                 fontsize=9)
    ax.legend(fontsize=7)
    return ax
