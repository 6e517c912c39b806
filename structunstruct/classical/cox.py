"""The classical Cox model: Newton-Raphson on the exact partial likelihood.

Gradient and Hessian are vectorised over all rows (one sort, cumulative sums and
matrix products), O(n log n + n p^2) per iteration, with Efron or Breslow ties and an
optional fixed offset (used to refit structured effects next to a deep part).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CoxFit:
    """Result of :func:`fit_cox`.

    Attributes
    ----------
    coef : ndarray of shape (p,)
    covariance : ndarray of shape (p, p)
        Inverse observed information at ``coef``.
    log_likelihood : float
        Log partial likelihood at ``coef``.
    n_iter : int
    converged : bool
    """

    coef: np.ndarray
    covariance: np.ndarray
    log_likelihood: float
    n_iter: int
    converged: bool


@dataclass(frozen=True)
class _RiskSets:
    """Sorting and tie structure of the data, computed once per fit.

    Rows are sorted by time; ``U`` distinct times, ``G`` of them with events.
    """

    order: np.ndarray          # (n,) rows sorted by ascending time
    row_time: np.ndarray       # (n,) distinct-time index 0..U-1 of each sorted row
    n_times: int               # U
    event_sorted: np.ndarray   # (n,) bool, event indicator of the sorted rows
    risk_first: np.ndarray     # (G,) first sorted row of each event time (its risk set starts there)
    event_time: np.ndarray     # (G,) distinct-time index of each event time
    event_start: np.ndarray    # (G,) first index, among the events, of each event time
    event_group: np.ndarray    # (n_events,) event-time index 0..G-1 of each event
    fraction: np.ndarray       # (n_events,) Efron's l / d for the l-th of d tied events
    tied_rows: np.ndarray      # sorted rows of the events at times with two or more events
    tied_start: np.ndarray     # first index into tied_rows of each such time
    tied_group: np.ndarray     # event-time index 0..G-1 of each such time


def _risk_sets(time: np.ndarray, event: np.ndarray) -> _RiskSets:
    order = np.argsort(time, kind="stable")
    t = time[order]
    new_time = np.ones(len(t), dtype=bool)
    new_time[1:] = t[1:] != t[:-1]
    row_time = np.cumsum(new_time) - 1
    event_sorted = event[order]
    event_rows = np.flatnonzero(event_sorted)
    times_of_events = row_time[event_rows]
    new_group = np.ones(len(event_rows), dtype=bool)
    new_group[1:] = times_of_events[1:] != times_of_events[:-1]
    event_start = np.flatnonzero(new_group)
    event_group = np.cumsum(new_group) - 1
    size = np.diff(np.append(event_start, len(event_rows)))
    rank = np.arange(len(event_rows)) - event_start[event_group]
    risk_first = np.searchsorted(t, t[event_rows[event_start]], side="left")
    tied = size[event_group] > 1
    tied_group = np.flatnonzero(size > 1)
    tied_start = np.searchsorted(event_group[tied], tied_group, side="left")
    return _RiskSets(
        order, row_time, int(row_time[-1]) + 1, event_sorted, risk_first,
        times_of_events[event_start], event_start, event_group, rank / size[event_group],
        event_rows[tied], tied_start, tied_group,
    )


def _reverse_cumsum(values: np.ndarray) -> np.ndarray:
    """Sums from each position to the end, along the last axis."""
    return np.cumsum(values[..., ::-1], axis=-1)[..., ::-1]


def _tied_sums(w: np.ndarray, wx: np.ndarray, rs: _RiskSets) -> tuple[np.ndarray, np.ndarray]:
    """Sums of ``w`` and ``w x`` over the tied events of each event time (0 where untied)."""
    d0 = np.zeros(len(rs.risk_first))
    d1 = np.zeros((wx.shape[0], len(rs.risk_first)))
    if len(rs.tied_rows):
        d0[rs.tied_group] = np.add.reduceat(w[rs.tied_rows], rs.tied_start)
        d1[:, rs.tied_group] = np.add.reduceat(wx[:, rs.tied_rows], rs.tied_start, axis=1)
    return d0, d1


def _derivatives(
    XT: np.ndarray, eta: np.ndarray, rs: _RiskSets, efron: bool, x_event_sum: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray]:
    """Log partial likelihood, its gradient and the negative Hessian.

    ``XT`` is the transposed design (p, n) of the rows sorted by time. Row-level work
    is two reverse cumulative sums and one ``X' diag(v) X``; tie corrections are formed
    only for the times with tied events.
    """
    shift = eta.max()
    w = np.exp(eta - shift)
    wx = XT * w
    s0 = _reverse_cumsum(w)[rs.risk_first]
    s1 = _reverse_cumsum(wx)[:, rs.risk_first]
    frac = rs.fraction if efron else np.zeros(len(rs.fraction))
    d0, d1 = _tied_sums(w, wx, rs) if efron else (np.zeros_like(s0), np.zeros_like(s1))
    phi = s0[rs.event_group] - frac * d0[rs.event_group]
    inv, frac_inv, inv2, frac_inv2, frac2_inv2, log_phi = (
        np.add.reduceat(v, rs.event_start)
        for v in (1 / phi, frac / phi, 1 / phi**2, frac / phi**2, frac**2 / phi**2, np.log(phi))
    )
    loglik = float(eta[rs.event_sorted].sum() - log_phi.sum() - shift * len(phi))
    gradient = x_event_sum - s1 @ inv + d1 @ frac_inv
    by_time = np.zeros((2, rs.n_times))
    by_time[0, rs.event_time] = inv
    by_time[1, rs.event_time] = frac_inv
    row_weight = w * np.cumsum(by_time[0])[rs.row_time]
    row_weight -= np.where(rs.event_sorted, w, 0.0) * by_time[1][rs.row_time]
    cross = (s1 * frac_inv2) @ d1.T
    second = (s1 * inv2) @ s1.T - cross - cross.T + (d1 * frac2_inv2) @ d1.T
    root = XT * np.sqrt(np.clip(row_weight, 0.0, None))  # row weights are >= 0: Z Z' (syrk)
    information = root @ root.T - second
    return loglik, gradient, information


def fit_cox(
    X: np.ndarray,
    time: np.ndarray,
    event: np.ndarray,
    ties: str = "efron",
    offset: np.ndarray | None = None,
    init: np.ndarray | None = None,
    tol: float = 1e-10,
    max_iter: int = 100,
) -> CoxFit:
    """Maximise the Cox partial likelihood by damped Newton-Raphson.

    Parameters
    ----------
    X : ndarray of shape (n, p)
        Design matrix (centring does not change the estimates; scaling helps).
    time : ndarray of shape (n,)
    event : ndarray of shape (n,), bool
    ties : {"efron", "breslow"}
    offset : ndarray of shape (n,), optional
        Fixed part of the linear predictor.
    init : ndarray of shape (p,), optional
        Starting coefficients (zeros by default).
    tol : float
        Stop when the largest Newton step is below ``tol``.
    max_iter : int

    Returns
    -------
    CoxFit
    """
    if ties not in ("efron", "breslow"):
        raise ValueError(f"ties must be one of ['efron', 'breslow']; got {ties!r}")
    rs = _risk_sets(time, event.astype(bool))
    XT = np.ascontiguousarray(np.asarray(X, dtype=np.float64).T[:, rs.order])
    off = np.zeros(len(time)) if offset is None else np.asarray(offset, dtype=np.float64)[rs.order]
    beta = np.zeros(X.shape[1]) if init is None else np.asarray(init, dtype=np.float64).copy()
    efron = ties == "efron"
    x_event_sum = XT[:, rs.event_sorted].sum(axis=1)

    def derivatives(b: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        return _derivatives(XT, b @ XT + off, rs, efron, x_event_sum)

    loglik, grad, info = derivatives(beta)
    converged = False
    n_iter = 0
    while n_iter < max_iter and not converged:
        n_iter += 1
        step = _newton_step(info, grad)
        beta, loglik, grad, info = _damped_update(derivatives, beta, step, loglik)
        converged = bool(np.max(np.abs(step)) < tol)
    covariance = np.linalg.pinv(info) if X.shape[1] else np.zeros((0, 0))
    return CoxFit(beta, covariance, loglik, n_iter, converged)


def _newton_step(info: np.ndarray, grad: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.solve(info, grad)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(info, grad, rcond=None)[0]


def _damped_update(
    derivatives: Callable[[np.ndarray], tuple[float, np.ndarray, np.ndarray]],
    beta: np.ndarray,
    step: np.ndarray,
    loglik: float,
) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """Take the Newton step, halving it while the likelihood decreases."""
    scale = 1.0
    for _ in range(30):
        candidate = beta + scale * step
        new = derivatives(candidate)
        if np.isfinite(new[0]) and new[0] >= loglik - 1e-12 * (1 + abs(loglik)):
            return (candidate, *new)
        scale /= 2
    return (beta, *derivatives(beta))


def breslow_cumulative_hazard(
    time: np.ndarray, event: np.ndarray, log_risk: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Breslow estimator of the baseline cumulative hazard.

    Parameters
    ----------
    time, event : ndarray of shape (n,)
    log_risk : ndarray of shape (n,)
        Fitted linear predictor of the training rows.

    Returns
    -------
    event_times : ndarray of shape (m,)
        Unique event times, ascending.
    cumulative_hazard : ndarray of shape (m,)
        ``H0(t) = sum_{t_i <= t} d_i / sum_{j: t_j >= t_i} exp(eta_j)``.
    """
    order = np.argsort(time, kind="stable")
    t = time[order]
    eta = log_risk[order]
    shift = eta.max()
    risk = np.cumsum(np.exp(eta - shift)[::-1])[::-1]
    event_times = np.unique(t[event[order].astype(bool)])
    start = np.searchsorted(t, event_times, side="left")
    deaths = np.bincount(
        np.searchsorted(event_times, time[event.astype(bool)]), minlength=len(event_times)
    )
    increments = deaths / risk[start] * np.exp(-shift)
    return event_times, np.cumsum(increments)
