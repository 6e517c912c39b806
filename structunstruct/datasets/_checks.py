"""Argument checks and return packing shared by the generators."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np


def check_n(n: Any) -> int:
    """Validate a sample size: an integer of at least 1."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be an integer >= 1; got {n!r}")
    return int(n)


def check_real(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Validate a finite real number, optionally inside an interval.

    Parameters
    ----------
    value : Any
        The value to check.
    name : str
        Parameter name, for the error message.
    low, high : float, optional
        Bounds of the interval; ``None`` means unbounded.
    low_open, high_open : bool, default=False
        Exclude the bound itself.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If the value is not a finite real number inside the interval.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number; got {value!r}")
    value = float(value)
    too_low = low is not None and (value < low or (low_open and value == low))
    too_high = high is not None and (value > high or (high_open and value == high))
    if too_low or too_high:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        raise ValueError(f"{name} must be in {left}{low}, {high}{right}; got {value!r}")
    return value


def pack(
    X: Any, y: Any, truth: np.ndarray, digits: np.ndarray, return_risk: bool, return_digits: bool
) -> tuple:
    """``(X, y)``, then the true risk/mean and the digit labels when asked for."""
    out: tuple = (X, y)
    if return_risk:
        out += (truth,)
    if return_digits:
        out += (digits,)
    return out
