"""Result tables, markdown and plots of the demo (and later of the benchmarks).

Everything here works on plain results: a list of :class:`ModelResult`, a survival
DataFrame as returned by ``predict_survival_function`` (index = time, one column per
sample), risk scores and a survival target. Plots use matplotlib's Agg backend, so
nothing needs a display.
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
_TERCILE_LABELS = ("low risk", "middle risk", "high risk")


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


# -- plots -------------------------------------------------------------------------------
def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def risk_terciles(risk: np.ndarray) -> np.ndarray:
    """Tercile of each risk score: 0 (lowest third), 1 or 2 (highest third).

    Parameters
    ----------
    risk : ndarray of shape (n_samples,)

    Returns
    -------
    ndarray of shape (n_samples,), int
    """
    risk = np.asarray(risk, dtype=np.float64)
    order = np.argsort(risk, kind="stable")
    groups = np.empty(risk.shape[0], dtype=np.int64)
    groups[order] = np.arange(risk.shape[0]) * 3 // max(risk.shape[0], 1)
    return groups


def _kaplan_meier(y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from sksurv.nonparametric import kaplan_meier_estimator

    times, survival, ci = kaplan_meier_estimator(
        y["event"], y["time"], conf_type="log-log"
    )
    return times, survival, ci


def _step(ax: Any, times: np.ndarray, values: np.ndarray, **kwargs: Any) -> None:
    ax.step(np.r_[0.0, times], np.r_[1.0, values], where="post", **kwargs)


def _plot_overall(ax: Any, survival: pd.DataFrame, y: np.ndarray, model: str) -> None:
    times, km, ci = _kaplan_meier(y)
    _step(ax, times, km, color="black", label="Kaplan–Meier (test)")
    ax.fill_between(times, ci[0], ci[1], step="post", color="black", alpha=0.15, lw=0)
    _step(ax, survival.index.to_numpy(), survival.mean(axis=1).to_numpy(), color="C0",
          label=f"{model}: mean prediction")
    ax.set_title("test set")


def _plot_terciles(ax: Any, survival: pd.DataFrame, risk: np.ndarray, y: np.ndarray) -> None:
    groups = risk_terciles(risk)
    grid = survival.index.to_numpy()
    for g, label in enumerate(_TERCILE_LABELS):
        members = groups == g
        if not members.any():
            continue
        times, km, _ = _kaplan_meier(y[members])
        _step(ax, times, km, color=f"C{g}", ls="--", alpha=0.8, label=f"KM, {label}")
        mean = survival.loc[:, members].mean(axis=1).to_numpy()
        _step(ax, grid, mean, color=f"C{g}", label=f"predicted, {label}")
    ax.set_title("by predicted risk tercile")


def plot_survival_check(
    survival: pd.DataFrame,
    risk: np.ndarray,
    y: np.ndarray,
    path: str | Path,
    *,
    model: str = "model",
    title: str | None = None,
) -> Path:
    """Predicted survival against Kaplan–Meier, overall and per risk tercile.

    Left panel: the predicted survival curves averaged over the samples, and the
    Kaplan–Meier curve (with a log-log 95% band) of the same samples. Right panel:
    the same per tercile of the predicted risk (solid: mean prediction, dashed:
    Kaplan–Meier). A calibrated model's solid curves follow the dashed ones.

    Parameters
    ----------
    survival : pandas.DataFrame of shape (n_times, n_samples)
        ``predict_survival_function(X)``: index = time, one column per sample.
    risk : ndarray of shape (n_samples,)
        Predicted risk scores (higher = earlier event), used for the terciles.
    y : structured array of shape (n_samples,)
        Observed survival (fields ``event``, ``time``) of the same samples.
    path : str or Path
        Where the PNG is written (parent directories are created).
    model : str
        Model name for the legend.
    title : str, optional
        Figure title.

    Returns
    -------
    Path
        The written file.
    """
    if survival.shape[1] != len(y) or len(risk) != len(y):
        raise ValueError(
            f"survival has {survival.shape[1]} columns, risk {len(risk)} values and y "
            f"{len(y)} rows; they must describe the same samples"
        )
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    _plot_overall(axes[0], survival, y, model)
    _plot_terciles(axes[1], survival, np.asarray(risk), y)
    for ax in axes:
        ax.set_xlabel("time")
        ax.set_ylim(0.0, 1.02)
        ax.legend(fontsize=7, loc="lower left")
    axes[0].set_ylabel("survival probability")
    return _save(fig, path, title)


def plot_training_curves(
    history: Sequence[Mapping[str, Any]],
    path: str | Path,
    *,
    best_epoch: int | None = None,
    title: str | None = None,
) -> Path:
    """Training and validation loss per epoch.

    Parameters
    ----------
    history : sequence of dict
        ``history_`` of a deep estimator: records with ``epoch``, ``train_loss`` and
        (optionally) ``valid_loss``.
    path : str or Path
        Where the PNG is written (parent directories are created).
    best_epoch : int, optional
        Epoch whose weights were kept (marked by a vertical line).
    title : str, optional
        Figure title.

    Returns
    -------
    Path
        The written file.
    """
    if not history:
        raise ValueError("history is empty: the model was not trained by epochs")
    plt = _pyplot()
    frame = pd.DataFrame(list(history))
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(frame["epoch"], frame["train_loss"], marker=".", label="train")
    if "valid_loss" in frame:
        ax.plot(frame["epoch"], frame["valid_loss"], marker=".", label="validation")
    if best_epoch is not None:
        ax.axvline(best_epoch, color="grey", ls=":", label=f"kept (epoch {best_epoch})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("negative log partial likelihood")
    ax.legend()
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
    "plot_survival_check",
    "plot_training_curves",
    "results_table",
    "risk_terciles",
]
