"""Input checks shared by the metrics: targets, risk scores and evaluation times."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..data.targets import as_survival_target


def check_target(y: Any, name: str) -> np.ndarray:
    """Convert a survival target in any accepted form, naming it in errors.

    Parameters
    ----------
    y : structured array, DataFrame or tuple
        Any form accepted by :func:`structunstruct.data.targets.as_survival_target`.
    name : str
        Argument name used in error messages (``"y_true"``, ``"y_train"``).

    Returns
    -------
    numpy.ndarray
        Structured array of shape (n_samples,) with fields ``event`` and ``time``.
    """
    try:
        return as_survival_target(y)
    except ValueError as err:
        raise ValueError(f"{name}: {err}") from err


def check_train_target(y_train: Any, y_true: np.ndarray) -> np.ndarray:
    """Return ``y_train`` converted, or ``y_true`` when it is None."""
    if y_train is None:
        return y_true
    return check_target(y_train, "y_train")


def check_finite(values: np.ndarray, name: str = "y_pred") -> np.ndarray:
    """Raise if ``values`` holds NaN or infinite entries; return it unchanged."""
    bad = ~np.isfinite(values)
    if bad.any():
        raise ValueError(
            f"{name} contains {int(bad.sum())} NaN or infinite values; "
            "metrics need a finite prediction for every sample"
        )
    return values


def check_n_samples(n_pred: int, n_true: int, name: str = "y_pred") -> None:
    """Raise if a prediction does not have one entry per sample of ``y_true``."""
    if n_pred != n_true:
        raise ValueError(
            f"{name} has predictions for {n_pred} samples but y_true has {n_true} samples"
        )


def check_risk(y_pred: Any, n_samples: int, *, allow_2d: bool = False) -> np.ndarray:
    """Validate risk scores (higher = earlier event).

    Parameters
    ----------
    y_pred : array-like of shape (n_samples,) or (n_samples, n_times)
        Risk scores; 2-D only when ``allow_2d`` is true.
    n_samples : int
        Number of samples in ``y_true``.
    allow_2d : bool, default=False
        Accept one risk per sample and time point.

    Returns
    -------
    numpy.ndarray
        Float array of shape (n_samples,) or (n_samples, n_times).
    """
    risk = np.asarray(y_pred, dtype=np.float64)
    if risk.ndim == 2 and risk.shape[1] == 1:
        risk = risk[:, 0]
    max_ndim = 2 if allow_2d else 1
    if risk.ndim == 0 or risk.ndim > max_ndim:
        raise ValueError(
            f"y_pred must be {'1-D or 2-D' if allow_2d else '1-D'} risk scores; "
            f"got shape {risk.shape}"
        )
    check_n_samples(risk.shape[0], n_samples)
    return check_finite(risk)


def check_times(times: Any) -> np.ndarray:
    """Return evaluation times as a finite, strictly increasing 1-D float array.

    Unsorted times are refused rather than sorted, because the columns of an
    array prediction are matched to ``times`` by position.
    """
    values = np.atleast_1d(np.asarray(times, dtype=np.float64))
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"times must be a non-empty 1-D array; got shape {values.shape}")
    check_finite(values, "times")
    if (np.diff(values) <= 0).any():
        raise ValueError("times must be strictly increasing (sorted, without duplicates)")
    return values
