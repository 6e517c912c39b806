"""Effects of the structured part: hazard-ratio forest plots, smooth and time-varying effects."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ._axes import fitted, get_ax


def plot_hazard_ratios(
    model: Any, *, terms: Any = None, parameter: str | None = None, ax: Any = None
) -> Any:
    """Forest plot of ``summary_``: hazard ratios (or coefficients) with 95% intervals.

    A survival estimator's ``exp(coef)`` is drawn on a log axis with the
    interval ``exp(lower 95%)`` to ``exp(upper 95%)`` and a line at 1; a
    ``SemiStructuredRegressor``'s coefficients of one distribution parameter are
    drawn on the link scale with a line at 0. The first term is at the top.

    Parameters
    ----------
    model : fitted estimator
        Has ``summary_``.
    terms : sequence of str, optional
        Terms to draw, in this order; default all.
    parameter : str, optional
        For a ``summary_`` indexed by (parameter, term): which parameter; default
        the first (``"loc"``).
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; default a new figure.

    Returns
    -------
    matplotlib.axes.Axes
    """
    fitted(model, "summary_")
    table = _summary_rows(model.summary_, terms, parameter)
    ratio = "exp(coef)" in table
    centre = table["exp(coef)" if ratio else "coef"].to_numpy(dtype=np.float64)
    lower, upper = (table[c].to_numpy(dtype=np.float64) for c in ("lower 95%", "upper 95%"))
    if ratio:
        lower, upper = np.exp(lower), np.exp(upper)
    positions = np.arange(len(table))[::-1]
    ax = get_ax(ax, figsize=(5.5, 0.9 + 0.35 * len(table)))
    ax.errorbar(centre, positions, xerr=np.vstack([centre - lower, upper - centre]),
                fmt="s", color="C0", capsize=3)
    ax.axvline(1.0 if ratio else 0.0, color="grey", ls=":", lw=1)
    ax.set_yticks(positions, [str(name) for name in table.index])
    ax.set_ylim(-0.6, len(table) - 0.4)
    if ratio:
        _log_axis(ax.xaxis)
    ax.set_xlabel("hazard ratio (95% CI)" if ratio else "coefficient (95% CI)")
    return ax


def _log_axis(axis: Any) -> None:
    """Log scale with plain tick labels at 1, 2 and 5 times powers of ten."""
    from matplotlib import ticker

    axis.axes.set_xscale("log")
    axis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(ticker.FormatStrFormatter("%g"))
    axis.set_minor_formatter(ticker.NullFormatter())


def _summary_rows(summary: pd.DataFrame, terms: Any, parameter: str | None) -> pd.DataFrame:
    if isinstance(summary.index, pd.MultiIndex):
        level = summary.index.get_level_values(0)
        parameter = level[0] if parameter is None else parameter
        if parameter not in set(level):
            raise ValueError(f"unknown parameter {parameter!r}; known: {list(pd.unique(level))}")
        summary = summary.xs(parameter, level=0)
        summary = summary.drop(index=[t for t in summary.index if t == "Intercept"])
    if terms is None:
        return summary
    missing = [t for t in terms if t not in summary.index]
    if missing:
        raise KeyError(f"terms {missing} are not in summary_; known: {list(summary.index)}")
    return summary.loc[list(terms)]


def effect_curve(model: Any, term: str, values: Any = None, parameter: str = "loc") -> pd.DataFrame:
    """A term's partial effect as a frame with columns x, effect, lower 95%, upper 95%.

    Parameters
    ----------
    model : fitted DeepPAMM or SemiStructuredRegressor
        ``DeepPAMM.partial_effect(term, values)`` (smooths ``"s(col)"``,
        time-varying effects ``"col(t)"``, ``"baseline"``) or
        ``SemiStructuredRegressor.partial_effect(term, parameter, grid)``.
    term : str
    values : array-like, optional
        Covariate values (or times); default the estimator's own grid.
    parameter : str, default="loc"
        Distribution parameter (``SemiStructuredRegressor`` only).

    Returns
    -------
    pandas.DataFrame
        Columns ``x``, ``effect``, ``lower 95%``, ``upper 95%``; ``attrs["x_name"]``
        holds the name of the x variable.
    """
    fitted(model, "partial_effect")
    if hasattr(model, "family_"):
        frame = model.partial_effect(term, parameter=parameter, grid=values)
        x_name = frame.columns[0]
        x = frame[x_name].to_numpy()
    else:
        frame = model.partial_effect(term, values)
        x_name, x = frame.index.name, frame.index.to_numpy()
    out = pd.DataFrame({"x": x, "effect": frame["effect"].to_numpy(),
                        "lower 95%": frame["lower 95%"].to_numpy(),
                        "upper 95%": frame["upper 95%"].to_numpy()})
    out.attrs["x_name"] = str(x_name)
    return out


def plot_partial_effect(
    model: Any,
    term: str,
    *,
    values: Any = None,
    parameter: str = "loc",
    rug: Any = None,
    ax: Any = None,
) -> Any:
    """A smooth or time-varying term's partial effect with its pointwise 95% band.

    The line is ``effect`` and the shaded band ``lower 95%`` to ``upper 95%`` of the
    estimator's ``partial_effect`` (see :func:`effect_curve`); on the scale of the
    linear predictor (log hazard for ``DeepPAMM``, the link scale of ``parameter``
    for ``SemiStructuredRegressor``).

    Parameters
    ----------
    model : fitted DeepPAMM or SemiStructuredRegressor
    term : str
        ``"s(col)"``; for ``DeepPAMM`` also ``"col(t)"`` (time-varying log hazard
        ratio) and ``"baseline"`` (log baseline hazard).
    values : array-like, optional
        Covariate values (or times); default the estimator's own grid.
    parameter : str, default="loc"
        Distribution parameter of a ``SemiStructuredRegressor``.
    rug : array-like, optional
        Observed values of the covariate, drawn as ticks on the x axis.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; default a new figure.

    Returns
    -------
    matplotlib.axes.Axes
    """
    curve = effect_curve(model, term, values, parameter)
    ax = get_ax(ax)
    ax.fill_between(curve["x"], curve["lower 95%"], curve["upper 95%"], color="C0", alpha=0.25,
                    lw=0, label="95% band")
    ax.plot(curve["x"], curve["effect"], color="C0", label=term)
    ax.axhline(0.0, color="grey", ls=":", lw=1)
    if rug is not None:
        ax.plot(np.asarray(rug, dtype=np.float64), np.zeros(len(rug)), "|", color="black",
                alpha=0.3, transform=ax.get_xaxis_transform())
    ax.set_xlabel(curve.attrs["x_name"])
    ax.set_ylabel(_effect_label(model, term, parameter))
    ax.legend(fontsize=8)
    return ax


def plot_time_varying_effect(model: Any, column: str, *, times: Any = None, ax: Any = None) -> Any:
    """Log hazard ratio of ``column`` over time (``DeepPAMM(time_varying=[column])``).

    Draws ``partial_effect(f"{column}(t)")``: the time-constant coefficient plus the
    smooth time-varying part, per unit of ``column``, with its 95% band; a line at 0
    marks no effect.

    Parameters
    ----------
    model : fitted DeepPAMM
    column : str
        A column listed in ``time_varying``.
    times : array-like, optional
        Default the interval end points.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; default a new figure.

    Returns
    -------
    matplotlib.axes.Axes
    """
    return plot_partial_effect(model, f"{column}(t)", values=times, ax=ax)


def _effect_label(model: Any, term: str, parameter: str) -> str:
    if hasattr(model, "family_"):
        return f"partial effect on {parameter} (link scale)"
    if term == "baseline":
        return "log baseline hazard"
    if term.endswith("(t)"):
        return "log hazard ratio per unit"
    return "partial effect on the log hazard"
