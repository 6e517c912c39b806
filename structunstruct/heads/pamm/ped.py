"""Piecewise-exponential data (PED): follow-up split at interval cut points.

Subject ``i`` observed until ``t_i`` contributes one row per interval
``(c_k, c_{k+1}]`` it was at risk in: the exposure ``min(t_i, c_{k+1}) - c_k`` (the
log of which is the Poisson offset) and the status ``d_ik`` (1 only in the interval
where its event happened). Follow-up beyond the last cut point is censored there.
Everything is vectorised (``np.repeat`` and index arithmetic, no per-row Python
loops); a PED holds only integer indices and per-row numbers, never copies of the
covariates: index per-subject arrays with :attr:`PEDSplit.subject`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral

import numpy as np


def resolve_cuts(time: np.ndarray, event: np.ndarray, cuts: int | Sequence[float]) -> np.ndarray:
    """Interval cut points ``0 = c_0 < c_1 < ... < c_K``.

    Parameters
    ----------
    time : ndarray of shape (n,)
    event : ndarray of shape (n,), bool
    cuts : int or sequence of float
        A number of intervals ``K`` (cut points at the ``k/K`` quantiles of the event
        times, the last at the largest event time; tied quantiles are merged, so
        there may be fewer), or explicit cut points (strictly increasing; 0 prepended
        when missing).

    Returns
    -------
    ndarray of shape (K + 1,)
    """
    if isinstance(cuts, Integral) and not isinstance(cuts, bool):
        if cuts < 1:
            raise ValueError(f"cuts must be a positive number of intervals; got {cuts}")
        event_times = np.asarray(time, dtype=np.float64)[np.asarray(event, dtype=bool)]
        points = np.quantile(event_times, np.arange(1, cuts + 1) / cuts)
    else:
        points = np.asarray(cuts, dtype=np.float64).reshape(-1)
        if not np.isfinite(points).all() or (points < 0).any():
            raise ValueError(f"cuts: explicit cut points must be finite and non-negative; got {points.tolist()}")
        if (np.diff(points) <= 0).any():
            raise ValueError(f"cuts: explicit cut points must be strictly increasing; got {points.tolist()}")
    points = np.unique(np.concatenate([[0.0], points]))
    if len(points) < 2:
        raise ValueError("cut points must define at least one interval of positive length")
    return points


@dataclass(frozen=True)
class PEDSplit:
    """The long (one row per subject and interval at risk) form of survival data.

    Attributes
    ----------
    cuts : ndarray of shape (K + 1,)
    subject : ndarray of shape (n_rows,), int64
        Row of the subject in the original data.
    interval : ndarray of shape (n_rows,), int64
        Interval index ``k`` (the interval is ``(cuts[k], cuts[k + 1]]``).
    exposure : ndarray of shape (n_rows,)
        Time at risk in the interval (``> 0``).
    status : ndarray of shape (n_rows,), float64
        1 where the subject's event is in this interval, else 0.
    """

    cuts: np.ndarray
    subject: np.ndarray
    interval: np.ndarray
    exposure: np.ndarray
    status: np.ndarray

    @property
    def n_rows(self) -> int:
        """Number of PED rows."""
        return int(self.subject.shape[0])

    @property
    def tstart(self) -> np.ndarray:
        """Interval start per row."""
        return self.cuts[self.interval]

    @property
    def tend(self) -> np.ndarray:
        """Interval end per row (the time point used for smooth functions of time)."""
        return self.cuts[self.interval + 1]

    @property
    def offset(self) -> np.ndarray:
        """Log exposure per row (the Poisson offset)."""
        return np.log(self.exposure)

    def subset(self, keep: np.ndarray) -> PEDSplit:
        """The rows selected by the boolean mask or index ``keep``."""
        return PEDSplit(
            self.cuts, self.subject[keep], self.interval[keep], self.exposure[keep], self.status[keep]
        )


def last_interval(time: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """Index of the interval ``(c_k, c_{k+1}]`` holding each time (clipped to ``[0, K-1]``).

    Times of exactly 0 get -1 (they are at risk in no interval).
    """
    k = np.searchsorted(cuts, np.asarray(time, dtype=np.float64), side="left") - 1
    return np.minimum(k, len(cuts) - 2)


def split_ped(time: np.ndarray, event: np.ndarray, cuts: np.ndarray) -> PEDSplit:
    """Split survival data at ``cuts`` into piecewise-exponential data.

    Parameters
    ----------
    time : ndarray of shape (n,)
    event : ndarray of shape (n,), bool
    cuts : ndarray of shape (K + 1,)
        From :func:`resolve_cuts`.

    Returns
    -------
    PEDSplit
        Rows ordered by subject, then interval. Memory is O(n_rows); subjects with
        time 0 contribute no rows; events after the last cut point are censored there.
    """
    time = np.asarray(time, dtype=np.float64)
    event = np.asarray(event, dtype=bool)
    last = last_interval(time, cuts)
    counts = last + 1
    total = int(counts.sum())
    subject = np.repeat(np.arange(len(time), dtype=np.int64), counts)
    first_row = np.cumsum(counts) - counts
    interval = np.arange(total, dtype=np.int64) - np.repeat(first_row, counts)
    stop = np.minimum(time[subject], cuts[interval + 1])
    exposure = stop - cuts[interval]
    observed = event & (time <= cuts[-1])
    status = (observed[subject] & (interval == last[subject])).astype(np.float64)
    return PEDSplit(cuts, subject, interval, exposure, status)


def exposure_matrix(time: np.ndarray, event: np.ndarray, cuts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The PED in dense per-subject layout (for mini-batches over subjects).

    Returns
    -------
    exposure : ndarray of shape (n, K)
        Time at risk per subject and interval (0 where not at risk).
    status : ndarray of shape (n, K)
        1 in the interval of the subject's event, else 0.
    """
    time = np.asarray(time, dtype=np.float64)
    widths = np.diff(cuts)
    exposure = np.clip(time[:, None] - cuts[None, :-1], 0.0, widths[None, :])
    last = last_interval(time, cuts)
    observed = np.asarray(event, dtype=bool) & (time <= cuts[-1]) & (last >= 0)
    status = np.zeros_like(exposure)
    status[np.flatnonzero(observed), last[observed]] = 1.0
    return exposure, status


def integrated_hazard(hazard: np.ndarray, cuts: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Cumulative hazard of a piecewise-constant hazard at arbitrary times.

    Parameters
    ----------
    hazard : ndarray of shape (K, m)
        Hazard of each interval for ``m`` subjects; the last interval's hazard is
        carried on beyond the last cut point.
    cuts : ndarray of shape (K + 1,)
    times : ndarray of shape (g,)

    Returns
    -------
    ndarray of shape (g, m)
    """
    widths = np.diff(cuts)
    cumulative = np.vstack([np.zeros((1, hazard.shape[1])), np.cumsum(hazard * widths[:, None], axis=0)])
    k = np.clip(np.searchsorted(cuts, times, side="right") - 1, 0, len(widths) - 1)
    return cumulative[k] + hazard[k] * (np.asarray(times) - cuts[k])[:, None]


def hazard_at(hazard: np.ndarray, cuts: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Piecewise-constant hazard (intervals right-closed) at ``times``, shape (g, m)."""
    k = np.clip(np.searchsorted(cuts, times, side="left") - 1, 0, len(cuts) - 2)
    return hazard[k]


__all__ = [
    "PEDSplit",
    "exposure_matrix",
    "hazard_at",
    "integrated_hazard",
    "last_interval",
    "resolve_cuts",
    "split_ped",
]
