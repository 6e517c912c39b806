"""Survival targets: one internal format, one function that converts and validates.

Inside the package a survival target is always a numpy structured array with the
fields ``event`` (bool) and ``time`` (float64), the format of
``sksurv.util.Surv.from_arrays``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

SURVIVAL_DTYPE = np.dtype([("event", "?"), ("time", "<f8")])

_TIME_NAMES = ("time", "duration", "durations", "survival_time", "futime", "t", "T", "stop")
_EVENT_NAMES = ("event", "status", "events", "dead", "death", "cens", "delta", "E", "d")


def make_survival_target(time: Any, event: Any) -> np.ndarray:
    """Build the internal survival target from a time and an event vector.

    Parameters
    ----------
    time : array-like of shape (n_samples,)
        Observed times (event or censoring), finite and non-negative.
    event : array-like of shape (n_samples,)
        Event indicator: 1/True for an observed event, 0/False for censoring.

    Returns
    -------
    numpy.ndarray
        Structured array of shape (n_samples,) with fields ``event`` and ``time``.
    """
    return as_survival_target((time, event))


def as_survival_target(y: Any, n_samples: int | None = None) -> np.ndarray:
    """Convert and validate any accepted survival target.

    Parameters
    ----------
    y : structured array, DataFrame or tuple
        A structured array with one boolean and one float field (scikit-survival),
        a DataFrame with a time and an event column, or a tuple ``(time, event)``.
    n_samples : int, optional
        When given, ``y`` must have this many rows (the rows of ``X``).

    Returns
    -------
    numpy.ndarray
        A new structured array of shape (n_samples,) with fields ``event`` (bool)
        and ``time`` (float64).

    Raises
    ------
    ValueError
        If the target cannot be read, has NaN/inf/negative times, event values other
        than 0/1, no events at all, or a length that does not match ``n_samples``.
    """
    time, event = _split_target(y)
    time = _validated_time(time)
    event = _validated_event(event)
    if time.shape[0] != event.shape[0]:
        raise ValueError(
            f"survival target: time has {time.shape[0]} values but event has {event.shape[0]}"
        )
    if n_samples is not None and time.shape[0] != n_samples:
        raise ValueError(
            f"survival target has {time.shape[0]} rows but X has {n_samples} rows"
        )
    if not event.any():
        raise ValueError("survival target has no events (every observation is censored)")
    out = np.empty(time.shape[0], dtype=SURVIVAL_DTYPE)
    out["event"] = event
    out["time"] = time
    return out


def _split_target(y: Any) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(y, tuple) and len(y) == 2:
        return np.asarray(y[0]), np.asarray(y[1])
    if isinstance(y, pd.DataFrame):
        return _split_frame(y)
    if isinstance(y, np.ndarray) and y.dtype.names is not None:
        return _split_structured(y)
    raise ValueError(
        "survival target must be a structured array with an event and a time field "
        "(sksurv.util.Surv.from_arrays), a DataFrame with a time and an event column, "
        f"or a tuple (time, event); got {type(y).__name__}"
    )


def _split_structured(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    names = list(y.dtype.names)
    if len(names) != 2:
        raise ValueError(
            f"survival target structured array must have 2 fields (event, time); got {names}"
        )
    bool_fields = [n for n in names if y.dtype[n].kind == "b"]
    if len(bool_fields) == 1:
        event_name = bool_fields[0]
        time_name = names[1 - names.index(event_name)]
    else:
        time_name, event_name = _names_by_convention(names)
    return np.asarray(y[time_name]), np.asarray(y[event_name])


def _split_frame(y: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    if y.shape[1] != 2:
        raise ValueError(
            f"survival target DataFrame must have exactly a time and an event column; "
            f"got columns {list(y.columns)}"
        )
    time_name, event_name = _names_by_convention([str(c) for c in y.columns])
    columns = {str(c): c for c in y.columns}
    return y[columns[time_name]].to_numpy(), y[columns[event_name]].to_numpy()


def _names_by_convention(names: list[str]) -> tuple[str, str]:
    time_name = next((n for n in names if n in _TIME_NAMES or n.lower() in _TIME_NAMES), None)
    event_name = next(
        (n for n in names if n != time_name and (n in _EVENT_NAMES or n.lower() in _EVENT_NAMES)),
        None,
    )
    if time_name is None or event_name is None:
        raise ValueError(
            f"cannot tell the time and the event column apart in {names}; name them "
            f"one of {list(_TIME_NAMES)} and one of {list(_EVENT_NAMES)}, or pass a tuple (time, event)"
        )
    return time_name, event_name


def _validated_time(time: np.ndarray) -> np.ndarray:
    if time.ndim != 1:
        raise ValueError(f"survival times must be 1-D; got shape {time.shape}")
    try:
        time = time.astype(np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"survival times must be numeric; got dtype {time.dtype}") from err
    bad = ~np.isfinite(time)
    if bad.any():
        raise ValueError(
            f"survival times contain {int(bad.sum())} NaN or infinite values "
            f"(first at position {int(np.flatnonzero(bad)[0])})"
        )
    if (time < 0).any():
        raise ValueError(
            f"survival times must be non-negative; {int((time < 0).sum())} are negative "
            f"(first at position {int(np.flatnonzero(time < 0)[0])})"
        )
    return time


def _validated_event(event: np.ndarray) -> np.ndarray:
    if event.ndim != 1:
        raise ValueError(f"event indicator must be 1-D; got shape {event.shape}")
    if event.dtype.kind == "b":
        return event.astype(bool)
    try:
        values = event.astype(np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"event indicator must be 0/1 or boolean; got dtype {event.dtype}"
        ) from err
    bad = ~np.isin(values, (0.0, 1.0))
    if bad.any():
        shown = np.unique(event[bad])[:5].tolist()
        raise ValueError(f"event indicator must be 0/1 or boolean; found values {shown}")
    return values.astype(bool)
