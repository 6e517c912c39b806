"""The classical Cox model: Newton-Raphson on the exact partial likelihood.

Gradient and Hessian are vectorised over all rows (one sort, cumulative sums and
matrix products), O(n log n + n p^2) per iteration, with Efron or Breslow ties and an
optional fixed offset (used to refit structured effects next to a deep part).
"""

from __future__ import annotations

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
    """Sorting and tie structure of the data, computed once per fit."""

    order: np.ndarray          # rows sorted by ascending time
    risk_start: np.ndarray     # per sorted row: first sorted position with the same time
    event_pos: np.ndarray      # sorted positions of the events
    group_start: np.ndarray    # per tie group of events: first index into event_pos
    event_group: np.ndarray    # per event: its tie group
    rank: np.ndarray           # per event: 0..d-1 within its tie group
    group_size: np.ndarray     # per tie group: number of events d


def _risk_sets(time: np.ndarray, event: np.ndarray) -> _RiskSets:
    order = np.argsort(time, kind="stable")
    t = time[order]
    risk_start = np.searchsorted(t, t, side="left")
    event_pos = np.flatnonzero(event[order])
    event_times = t[event_pos]
    new_group = np.ones(len(event_pos), dtype=bool)
    new_group[1:] = event_times[1:] != event_times[:-1]
    group_start = np.flatnonzero(new_group)
    event_group = np.cumsum(new_group) - 1
    rank = np.arange(len(event_pos)) - group_start[event_group]
    group_size = np.diff(np.append(group_start, len(event_pos)))
    return _RiskSets(order, risk_start, event_pos, group_start, event_group, rank, group_size)


def _derivatives(
    X: np.ndarray, eta: np.ndarray, rs: _RiskSets, efron: bool
) -> tuple[float, np.ndarray, np.ndarray]:
    """Log partial likelihood, its gradient and the negative Hessian (all sorted inputs)."""
    shift = eta.max()
    w = np.exp(eta - shift)
    wx = X * w[:, None]
    s0 = np.cumsum(w[::-1])[::-1]
    s1 = np.cumsum(wx[::-1], axis=0)[::-1]
    pos = rs.event_pos
    risk0 = s0[rs.risk_start[pos]]
    risk1 = s1[rs.risk_start[pos]]
    if efron:
        tied0 = np.add.reduceat(w[pos], rs.group_start)[rs.event_group]
        tied1 = np.add.reduceat(wx[pos], rs.group_start, axis=0)[rs.event_group]
        frac = rs.rank / rs.group_size[rs.event_group]
    else:
        tied0 = np.zeros(len(pos))
        tied1 = np.zeros((len(pos), X.shape[1]))
        frac = np.zeros(len(pos))
    phi = risk0 - frac * tied0
    mean = (risk1 - frac[:, None] * tied1) / phi[:, None]
    loglik = float(eta[pos].sum() - (np.log(phi) + shift).sum())
    gradient = X[pos].sum(axis=0) - mean.sum(axis=0)
    inv_phi_by_group = np.add.reduceat(1.0 / phi, rs.group_start)
    # a_j: sum of 1/phi over events at or before row j's time (risk-set membership)
    cum_inv = np.cumsum(inv_phi_by_group)
    event_times_idx = rs.risk_start[pos][rs.group_start]  # sorted position where each group starts
    weight_a = _cumulative_at(cum_inv, event_times_idx, len(eta))
    weight = w * weight_a
    if efron:
        frac_by_group = np.add.reduceat(frac / phi, rs.group_start)
        weight_b = np.zeros(len(eta))
        weight_b[pos] = frac_by_group[rs.event_group]
        weight = weight - w * weight_b
    information = (X * weight[:, None]).T @ X - mean.T @ mean
    return loglik, gradient, information


def _cumulative_at(cum_values: np.ndarray, starts: np.ndarray, n: int) -> np.ndarray:
    """For each sorted row j: the last ``cum_values[g]`` with ``starts[g] <= j`` (0 if none)."""
    idx = np.searchsorted(starts, np.arange(n), side="right") - 1
    out = np.where(idx >= 0, cum_values[np.maximum(idx, 0)], 0.0)
    return out


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
    Xs = np.ascontiguousarray(X[rs.order], dtype=np.float64)
    off = np.zeros(len(time)) if offset is None else np.asarray(offset, dtype=np.float64)[rs.order]
    beta = np.zeros(X.shape[1]) if init is None else np.asarray(init, dtype=np.float64).copy()
    efron = ties == "efron"
    loglik, grad, info = _derivatives(Xs, Xs @ beta + off, rs, efron)
    converged = False
    n_iter = 0
    while n_iter < max_iter and not converged:
        n_iter += 1
        step = _newton_step(info, grad)
        beta, loglik, grad, info = _damped_update(Xs, off, rs, efron, beta, step, loglik)
        converged = bool(np.max(np.abs(step)) < tol)
    covariance = np.linalg.pinv(info) if X.shape[1] else np.zeros((0, 0))
    return CoxFit(beta, covariance, loglik, n_iter, converged)


def _newton_step(info: np.ndarray, grad: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.solve(info, grad)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(info, grad, rcond=None)[0]


def _damped_update(
    Xs: np.ndarray,
    off: np.ndarray,
    rs: _RiskSets,
    efron: bool,
    beta: np.ndarray,
    step: np.ndarray,
    loglik: float,
) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """Take the Newton step, halving it while the likelihood decreases."""
    scale = 1.0
    for _ in range(30):
        candidate = beta + scale * step
        new = _derivatives(Xs, Xs @ candidate + off, rs, efron)
        if np.isfinite(new[0]) and new[0] >= loglik - 1e-12 * (1 + abs(loglik)):
            return (candidate, *new)
        scale /= 2
    return (beta, loglik, *_derivatives(Xs, Xs @ beta + off, rs, efron)[1:])


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
