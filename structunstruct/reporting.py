"""Result tables, markdown and plots of the demo (and later of the benchmarks).

Tables work on plain results (a list of :class:`ModelResult`); the figures compose
the plots of :mod:`structunstruct.plotting` for a fitted model and write PNG files
with matplotlib's Agg backend, so nothing needs a display.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

TABLE_COLUMNS = ["model", "Harrell C", "IBS", "fit s"]
GAP_COLUMN = "gap closed"
_FORMATS = {"Harrell C": "{:.3f}", "IBS": "{:.3f}", "fit s": "{:.1f}", GAP_COLUMN: "{:.0%}"}


@dataclass
class ModelResult:
    """Test-set performance of one fitted model.

    Attributes
    ----------
    model : str
        Display name.
    c_index : float
        Harrell's C on the test rows.
    ibs : float or None
        Integrated Brier score on the test rows (None without a survival function).
    fit_seconds : float or None
        Wall-clock seconds of ``fit`` (None for a model that is not fitted).
    gap_closed : float or None
        Share of the gap between a reference model and the oracle that this model
        closes; None where it does not apply.
    """

    model: str
    c_index: float
    ibs: float | None = None
    fit_seconds: float | None = None
    gap_closed: float | None = None


def gap_closed(c_index: float, c_reference: float, c_oracle: float) -> float:
    """Share of the reference-to-oracle C-index gap closed by a model.

    ``(C - C_reference) / (C_oracle - C_reference)``: 0 is no better than the
    reference, 1 is as good as the true risk; NaN when the oracle is not better than
    the reference.
    """
    gap = c_oracle - c_reference
    return (c_index - c_reference) / gap if gap > 0 else math.nan


def results_table(results: Sequence[ModelResult], *, with_gap: bool = False) -> pd.DataFrame:
    """Results as a DataFrame with columns model, Harrell C, IBS, fit s (and gap closed).

    Parameters
    ----------
    results : sequence of ModelResult
    with_gap : bool, default=False
        Add the ``gap closed`` column.

    Returns
    -------
    pandas.DataFrame of shape (n_results, 4 or 5)
        Missing values (no IBS, no fit time, no gap) are NaN.
    """
    rows = [
        {
            "model": r.model,
            "Harrell C": r.c_index,
            "IBS": _nan(r.ibs),
            "fit s": _nan(r.fit_seconds),
            GAP_COLUMN: _nan(r.gap_closed),
        }
        for r in results
    ]
    columns = TABLE_COLUMNS + ([GAP_COLUMN] if with_gap else [])
    return pd.DataFrame(rows, columns=TABLE_COLUMNS + [GAP_COLUMN])[columns]


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


def format_markdown(table: pd.DataFrame, formats: Mapping[str, str] | None = None) -> str:
    """A DataFrame as a GitHub markdown table (no extra dependency).

    Parameters
    ----------
    table : pandas.DataFrame
        Rendered with its columns; the index is dropped.
    formats : mapping of str to str, optional
        Format string per column (default: the formats of :func:`results_table`);
        NaN is shown as ``–``.

    Returns
    -------
    str
        The table, one line per row, ending without a newline.
    """
    formats = _FORMATS if formats is None else formats
    header = [str(c) for c in table.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    for _, row in table.iterrows():
        cells = [_cell(row[c], formats.get(str(c))) for c in table.columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(value: Any, fmt: str | None) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "–"
    return fmt.format(value) if fmt is not None else str(value)


# -- figures of the report (drawn by structunstruct.plotting) ------------------------------
def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_survival_check(
    model: Any,
    X: pd.DataFrame,
    y: np.ndarray,
    path: str | Path,
    *,
    t: float | None = None,
    title: str | None = None,
) -> Path:
    """Four panels: survival against Kaplan–Meier overall and by risk tercile, calibration.

    Panels (all from :mod:`structunstruct.plotting`): the mean predicted survival
    curve against Kaplan–Meier on all rows and per tercile of predicted risk
    (:func:`~structunstruct.plotting.plot_survival`), calibration at ``t``
    (:func:`~structunstruct.plotting.plot_calibration`, five risk groups) and the
    D-calibration histogram (:func:`~structunstruct.plotting.plot_d_calibration`).

    Parameters
    ----------
    model : fitted survival estimator
    X : pandas.DataFrame
        The evaluated rows.
    y : structured array of shape (n_samples,)
        Their observed survival (fields ``event``, ``time``).
    path : str or Path
        Where the PNG is written (parent directories are created).
    t : float, optional
        Horizon of the calibration panel; default the median observed event time.
    title : str, optional
        Figure title.

    Returns
    -------
    Path
        The written file.
    """
    from . import plotting

    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} rows and y {len(y)}; they must be the same samples")
    t = float(np.median(y["time"][y["event"]])) if t is None else float(t)
    plt = _pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(19, 4.4))
    plotting.plot_survival(model, X, y, groups="all", ax=axes[0])
    axes[0].set_title("all rows")
    plotting.plot_survival(model, X, y, ax=axes[1])
    axes[1].set_title("by predicted risk tercile")
    plotting.plot_calibration(model, X, y, t, n_bins=5, ax=axes[2])
    axes[2].set_title(f"calibration at t = {t:.4g}")
    plotting.plot_d_calibration(model, X, y, ax=axes[3])
    return _save(fig, path, title)


def plot_hazard_ratio_figure(model: Any, path: str | Path, *, title: str | None = None) -> Path:
    """Forest plot of ``model.summary_`` (:func:`~structunstruct.plotting.plot_hazard_ratios`).

    Parameters
    ----------
    model : fitted estimator with ``summary_``
    path : str or Path
        Where the PNG is written (parent directories are created).
    title : str, optional
        Figure title.

    Returns
    -------
    Path
        The written file.
    """
    from . import plotting

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 1.2 + 0.35 * len(model.summary_)))
    plotting.plot_hazard_ratios(model, ax=ax)
    return _save(fig, path, title)


def plot_training_curves(model: Any, path: str | Path, *, title: str | None = None) -> Path:
    """Training and validation loss per epoch (:func:`~structunstruct.plotting.plot_training_history`).

    Parameters
    ----------
    model : fitted deep estimator
        Its ``history_`` and ``best_epoch_`` are drawn.
    path : str or Path
        Where the PNG is written (parent directories are created).
    title : str, optional
        Figure title.

    Returns
    -------
    Path
        The written file.
    """
    from . import plotting

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    try:
        plotting.plot_training_history(model, ax=ax)
    except ValueError:
        plt.close(fig)
        raise
    return _save(fig, path, title)


def _save(fig: Any, path: str | Path, title: str | None) -> Path:
    import matplotlib.pyplot as plt

    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


__all__ = [
    "ModelResult",
    "format_markdown",
    "gap_closed",
    "plot_hazard_ratio_figure",
    "plot_survival_check",
    "plot_training_curves",
    "results_table",
]
