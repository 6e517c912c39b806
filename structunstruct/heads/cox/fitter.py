"""The classical Cox model: Newton-Raphson on the exact partial likelihood.

Rows fall into blocks: for every distinct time, its events and its censored rows. A
risk set is a union of whole blocks, so each Newton iteration needs from the rows only
the block sums of ``w = exp(eta)`` and ``w x`` (one sparse-times-dense product that
reads the design once and writes a small ``(blocks, p)`` table) and one weighted Gram
matrix ``X' diag(v) X`` (BLAS ``syrk`` on cache-sized chunks). Risk-set sums and
Efron's tie corrections run on the blocks, so heavily tied data cost little more than
untied data. With few blocks the rows stay in their given order (no copy of the design
is permuted); with many, they are sorted by time once so that block sums stream.
Efron or Breslow ties, an optional fixed offset (used to refit structured effects
next to a deep part) and an optional ridge penalty ``1/2 sum_j lambda_j beta_j^2``
subtracted from the log partial likelihood (lifelines' ``penalizer`` once the columns
are standardized, see :func:`lifelines_ridge`).

Before the first iteration the design is checked for linearly dependent columns
(:func:`~structunstruct.classical.diagnostics.check_identifiable`, unless a ridge makes
every coefficient identifiable); after the last, for directions along which the
likelihood is monotone (separation), which are reported as not converged, with a
warning naming the columns and a huge variance
(:mod:`structunstruct.classical.diagnostics`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp

from ...classical.diagnostics import (
    check_identifiable,
    diverging_directions,
    find_separation,
    inflate_covariance,
)

# Above this many blocks the rows are sorted by time first, so that the block sums
# write sequentially instead of scattering into a table larger than the CPU caches.
_SORT_ABOVE_BLOCKS = 4096
# Rows per chunk of the weighted Gram matrix (a chunk of p = 10 columns, 10 MB, stays
# in the last-level cache of common CPUs).
_GRAM_CHUNK = 131072


@dataclass(frozen=True)
class CoxFit:
    """Result of :func:`fit_cox`.

    Attributes
    ----------
    coef : ndarray of shape (p,)
    covariance : ndarray of shape (p, p)
        Inverse penalized observed information (at the last Newton iterate but one,
        which differs from ``coef`` by less than ``tol``); along a diverging direction
        its variance is :data:`~structunstruct.classical.diagnostics.DIVERGING_VARIANCE`.
    log_likelihood : float
        Log partial likelihood at ``coef`` (without the ridge penalty).
    n_iter : int
    converged : bool
        False also when coefficients diverge (separation).
    event_times : ndarray of shape (m,)
        Distinct event times, ascending.
    baseline_cumulative_hazard : ndarray of shape (m,)
        Breslow estimate of ``H0`` at ``event_times`` for the fitted linear predictor
        (``X coef + offset``).
    """

    coef: np.ndarray
    covariance: np.ndarray
    log_likelihood: float
    n_iter: int
    converged: bool
    event_times: np.ndarray
    baseline_cumulative_hazard: np.ndarray
    diverging: np.ndarray | None = None  # (p, k) unit directions of separation, k >= 0


@dataclass(frozen=True)
class _Blocks:
    """Block structure of the data, computed once per fit.

    Blocks are numbered by ascending time, and at equal times the events' block comes
    before the censored rows' block, so the risk set of event block ``g`` is every
    block from ``event_block[g]`` on. ``G`` blocks hold events.
    """

    row_order: np.ndarray | None  # rows sorted by time, or None: rows kept as given
    row_block: np.ndarray         # (n,) block of each row (in the working row order)
    n_blocks: int                 # K
    event_block: np.ndarray       # (G,) block index of each event block
    event_count: np.ndarray       # (G,) events per event block (d)
    event_times: np.ndarray       # (G,) time of each event block
    block_group: np.ndarray       # (K,) event blocks at or before each block, minus 1
    tie_group: np.ndarray         # (n_events,) event block of the l-th of d tied events
    tie_first: np.ndarray         # (G,) first position of each event block in tie_group
    tie_fraction: np.ndarray      # (n_events,) Efron's l / d


def _time_order(time: np.ndarray, event: np.ndarray) -> np.ndarray:
    """Rows by ascending time, events before censored rows at equal times.

    One unstable sort on a composite key: a censored time ``t`` is replaced by the next
    float above ``t``. Should that float itself be an observed time, the order is
    caught by the check and a two-key sort is used instead.
    """
    order = np.argsort(np.where(event, time, np.nextafter(time, np.inf)))
    t = time[order]
    # Keys only tie across different times when a censored time's successor is an
    # observed event time; sorted the wrong way round, the times then decrease.
    if np.all(t[1:] >= t[:-1]):
        return order
    return np.lexsort((~event, time))


def _blocks(time: np.ndarray, event: np.ndarray) -> _Blocks:
    order = _time_order(time, event)
    t, e = time[order], event[order]
    n = len(t)
    new_block = np.ones(n, dtype=bool)
    new_block[1:] = (t[1:] != t[:-1]) | (e[1:] != e[:-1])
    sorted_block = np.cumsum(new_block) - 1
    n_blocks = int(sorted_block[-1]) + 1
    block_start = np.flatnonzero(new_block)
    block_has_events = e[block_start]
    event_block = np.flatnonzero(block_has_events)
    event_count = np.diff(np.append(block_start, n))[event_block]
    tie_first = np.concatenate(([0], np.cumsum(event_count)[:-1])).astype(np.intp)
    tie_group = np.repeat(np.arange(len(event_block)), event_count)
    tie_fraction = (np.arange(len(tie_group)) - tie_first[tie_group]) / event_count[tie_group]
    if n_blocks > _SORT_ABOVE_BLOCKS:
        row_order, row_block = order, sorted_block
    else:
        row_order, row_block = None, np.empty(n, dtype=np.intp)
        row_block[order] = sorted_block
    return _Blocks(
        row_order, row_block, n_blocks, event_block, event_count, t[block_start[event_block]],
        np.cumsum(block_has_events) - 1, tie_group, tie_first, tie_fraction,
    )


def _reverse_cumsum(values: np.ndarray) -> np.ndarray:
    """Sums from each position to the end, along the first axis."""
    return np.cumsum(values[::-1], axis=0)[::-1]


@dataclass(frozen=True)
class _Value:
    """The partial likelihood at one coefficient vector, with what its derivatives need."""

    beta: np.ndarray
    log_likelihood: float
    w: np.ndarray            # (n,) exp(eta - shift), a view of a reused buffer
    shift: float
    s0: np.ndarray           # (G,) risk-set sums of w
    s1: np.ndarray           # (G, p) risk-set sums of w x
    d1: np.ndarray           # (G, p) sums of w x over each block's events
    sums: tuple[np.ndarray, ...]  # (a, b, c, e, f), each (G,): Efron sums over l


class _PartialLikelihood:
    """The Cox partial likelihood of fixed data, with reused row-level buffers.

    Parameters
    ----------
    X : ndarray of shape (n, p)
    event : ndarray of shape (n,), bool
    blocks : _Blocks
    efron : bool
        Efron's tie correction (else Breslow's).
    offset : ndarray of shape (n,) or None
        Fixed part of the linear predictor.
    """

    def __init__(
        self, X: np.ndarray, event: np.ndarray, blocks: _Blocks, efron: bool, offset: np.ndarray | None
    ) -> None:
        n, p = X.shape
        order = blocks.row_order
        XT = np.asarray(X, dtype=np.float64).T
        XT = np.ascontiguousarray(XT) if order is None else np.take(XT, order, axis=1)
        self.XT = XT  # (p, n): rows of the linear predictor
        self.X1 = np.empty((n, p + 1))  # (n, p + 1) row-major [X, 1]: block sums of w x and w
        self.X1[:, :p] = XT.T
        self.X1[:, p] = 1.0
        self.event = (event if order is None else event[order]).astype(np.float64)
        self.offset = None if offset is None else np.asarray(offset, dtype=np.float64)
        if self.offset is not None and order is not None:
            self.offset = self.offset[order]
        self.blocks = blocks
        self.efron = efron
        self.fraction = blocks.tie_fraction if efron else np.zeros(len(blocks.tie_fraction))
        self.x_event_sum = self.event @ self.X1[:, :p]
        self._sum_by_block = sp.csc_matrix(
            (np.ones(n), blocks.row_block, np.arange(n + 1)), shape=(blocks.n_blocks, n)
        )
        self._eta = np.empty(n)
        self._w = np.empty(n)
        self._terms = np.empty((6, len(blocks.tie_group)))
        self._chunk = np.empty((p, min(n, _GRAM_CHUNK)))

    def value(self, beta: np.ndarray) -> _Value:
        """Log partial likelihood at ``beta`` (and the sums its derivatives reuse)."""
        bl = self.blocks
        p = len(beta)
        eta = np.matmul(beta, self.XT, out=self._eta)
        if self.offset is not None:
            eta += self.offset
        shift = float(eta.max())
        loglik_events = float(self.event @ eta)
        w = np.exp(np.subtract(eta, shift, out=self._w), out=self._w)
        self._sum_by_block.data[:] = w
        block_sums = self._sum_by_block @ self.X1  # (K, p + 1): w x and w per block
        risk_sums = _reverse_cumsum(block_sums)[bl.event_block]
        s0, s1 = risk_sums[:, p], risk_sums[:, :p]
        d0, d1 = block_sums[bl.event_block, p], block_sums[bl.event_block, :p]
        a, b, c, e, f, log_phi = self._tie_sums(s0, d0)
        loglik = loglik_events - float(log_phi.sum()) - shift * len(bl.tie_group)
        return _Value(beta, loglik, w, shift, s0, s1, d1, (a, b, c, e, f))

    def _tie_sums(self, s0: np.ndarray, d0: np.ndarray) -> np.ndarray:
        """Per event block, sums over its ``d`` events ``l = 0..d-1`` of ``1/phi``,
        ``(l/d)/phi``, ``1/phi^2``, ``(l/d)/phi^2``, ``(l/d)^2/phi^2`` and ``log phi``,
        with ``phi = s0 - (l/d) d0`` (computed in place in a reused buffer)."""
        bl, frac, terms = self.blocks, self.fraction, self._terms
        phi, inv, inv2 = terms[5], terms[0], terms[2]
        np.take(s0, bl.tie_group, out=phi)
        if self.efron:
            phi -= np.multiply(frac, np.take(d0, bl.tie_group), out=terms[1])
        np.divide(1.0, phi, out=inv)
        np.log(phi, out=terms[5])
        np.multiply(inv, inv, out=inv2)
        if not self.efron:  # Breslow: l = 0 for every event, the fraction terms vanish
            sums = np.add.reduceat(terms[[0, 2, 5]], bl.tie_first, axis=1)
            zero = np.zeros(len(bl.tie_first))
            return np.stack((sums[0], zero, sums[1], zero, zero, sums[2]))
        np.multiply(frac, inv, out=terms[1])
        np.multiply(frac, inv2, out=terms[3])
        np.multiply(frac, terms[3], out=terms[4])
        return np.add.reduceat(terms, bl.tie_first, axis=1)

    def derivatives(self, value: _Value) -> tuple[np.ndarray, np.ndarray]:
        """Gradient and observed information at ``value.beta``.

        With ``phi_gl = s0_g - (l/d_g) d0_g`` (Efron; ``l = 0`` for Breslow) the
        information is ``X' diag(v) X - sum_g [c_g s1 s1' - e_g (s1 d1' + d1 s1') +
        f_g d1 d1']`` with ``v_i = w_i (sum_{g: t_g <= t_i} a_g - [i is an event] b_g)``.
        """
        bl = self.blocks
        a, b, c, e, f = value.sums
        s1, d1 = value.s1, value.d1
        gradient = self.x_event_sum - a @ s1 + b @ d1
        block_weight = np.where(bl.block_group >= 0, np.cumsum(a)[np.maximum(bl.block_group, 0)], 0.0)
        block_weight[bl.event_block] -= b
        root_weight = np.take(block_weight, bl.row_block, out=self._eta)
        np.clip(root_weight, 0.0, None, out=root_weight)
        np.sqrt(np.multiply(root_weight, value.w, out=root_weight), out=root_weight)
        cross = (s1.T * e) @ d1
        second = (s1.T * c) @ s1 - cross - cross.T + (d1.T * f) @ d1
        return gradient, self._weighted_gram(root_weight) - second

    def _weighted_gram(self, root_weight: np.ndarray) -> np.ndarray:
        """``X' diag(root_weight**2) X`` by chunks of rows, in a reused buffer."""
        XT, buffer = self.XT, self._chunk
        gram = np.zeros((XT.shape[0], XT.shape[0]))
        for start in range(0, XT.shape[1], buffer.shape[1]):
            stop = min(start + buffer.shape[1], XT.shape[1])
            chunk = np.multiply(XT[:, start:stop], root_weight[start:stop], out=buffer[:, :stop - start])
            gram += chunk @ chunk.T
        return gram


def fit_cox(
    X: np.ndarray,
    time: np.ndarray,
    event: np.ndarray,
    ties: str = "efron",
    offset: np.ndarray | None = None,
    init: np.ndarray | None = None,
    tol: float = 1e-7,
    max_iter: int = 100,
    penalty: float | np.ndarray | None = None,
    names: Sequence[str] | None = None,
    role: str = "structured",
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
        Starting coefficients; by default zeros, or for 200,000 rows or more the rough
        fit on an evenly spaced subsample of about 10,000 rows.
    tol : float
        Stop once the largest Newton step is below ``tol`` (lifelines' default
        precision); that last step is still taken. Newton converges quadratically, so
        near the optimum the error left after a step of size ``s`` is of order
        ``s**2``: far below ``tol``.
    max_iter : int
    penalty : float or ndarray of shape (p,), optional
        Ridge weights ``lambda_j``: ``1/2 sum_j lambda_j beta_j^2`` is subtracted from
        the log partial likelihood (see :func:`lifelines_ridge` for lifelines'
        ``penalizer``).
    names : sequence of str, optional
        Column names for the messages (default ``x0, x1, ...``).
    role : str
        What the columns are, for the messages (``"structured"``, ``"stacked member"``).

    Returns
    -------
    CoxFit

    Raises
    ------
    ValueError
        When columns are linearly dependent and no ridge makes them identifiable.

    Warns
    -----
    ConvergenceWarning
        Naming the columns whose coefficients diverge (monotone likelihood).
    """
    if ties not in ("efron", "breslow"):
        raise ValueError(f"ties must be one of ['efron', 'breslow']; got {ties!r}")
    time = np.asarray(time, dtype=np.float64)
    event = np.asarray(event, dtype=bool)
    p = np.shape(X)[1]
    names = [f"x{j}" for j in range(p)] if names is None else list(names)
    ridge = np.zeros(p) if penalty is None else np.broadcast_to(np.asarray(penalty, dtype=np.float64), (p,))
    if not np.all(ridge > 0):
        check_identifiable(X, names, intercept=True, what=role)
    blocks = _blocks(time, event)
    likelihood = _PartialLikelihood(X, event, blocks, ties == "efron", offset)
    reference = None
    if init is None:
        beta, reference = _subsample_start(X, time, event, ties, offset, ridge)
    else:
        beta = np.asarray(init, dtype=np.float64).copy()
    state = _newton(likelihood, ridge, beta, tol, max_iter)
    reference = state.reference if state.reference is not None else reference
    current, information = state.current, state.information
    covariance = np.linalg.pinv(information + np.diag(ridge)) if p else np.zeros((0, 0))
    diverging = np.zeros((p, 0))
    if p and not np.any(ridge > 0):
        if reference is None:  # started elsewhere (a refit next to a deep part)
            reference = likelihood.derivatives(likelihood.value(np.zeros(p)))[1]
        diverging = find_separation(
            information, reference, lambda b: likelihood.value(b).log_likelihood, current.beta, None,
            names, f"Cox model ({role} columns)",
        )
    if diverging.shape[1]:
        covariance = inflate_covariance(covariance, diverging)
    increments = blocks.event_count / current.s0 * np.exp(-current.shift)
    return CoxFit(
        current.beta, covariance, current.log_likelihood + _ridge_value(ridge, current.beta), state.n_iter,
        state.converged and not diverging.shape[1], blocks.event_times, np.cumsum(increments), diverging,
    )


def _ridge_value(ridge: np.ndarray, beta: np.ndarray) -> float:
    """The ridge term, added back to report the unpenalized log likelihood."""
    return 0.5 * float(ridge @ beta**2)


@dataclass
class _NewtonState:
    current: _Value
    information: np.ndarray        # unpenalized, at the last iterate but one
    reference: np.ndarray | None   # unpenalized, at beta = 0 when the fit started there
    n_iter: int
    converged: bool


def _newton(likelihood: _PartialLikelihood, ridge: np.ndarray, beta: np.ndarray, tol: float, max_iter: int) -> _NewtonState:
    """Damped Newton iterations on the ridge-penalized partial likelihood."""
    p = len(beta)

    def value(b: np.ndarray) -> _Value:
        v = likelihood.value(b)
        return replace(v, log_likelihood=v.log_likelihood - _ridge_value(ridge, b))

    current = value(beta)
    state = _NewtonState(current, np.zeros((p, p)), None, 0, False)
    while state.n_iter < max_iter and not state.converged:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            gradient, information = likelihood.derivatives(state.current)
        if not (np.isfinite(gradient).all() and np.isfinite(information).all()):
            state.converged = False  # underflowed risk sets: a diverging fit
            break
        if state.n_iter == 0 and not np.any(state.current.beta):
            state.reference = information
        state.n_iter += 1
        state.information = information
        step = _newton_step(information + np.diag(ridge), gradient - ridge * state.current.beta)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            state.current = _damped_update(value, state.current, step)
        state.converged = bool(np.max(np.abs(step), initial=0.0) < tol)
    return state


#: Above this many rows Newton starts from the fit on an evenly spaced subsample of
#: about this many rows, which is within sampling error of the full-data optimum: that
#: saves the first, large Newton steps on all rows.
_SUBSAMPLE_START_ROWS = 10_000
#: ... when the subsample is at most this small a share of the rows (measured: at
#: 100,000 rows the subsample fit costs what the saved iteration does).
_MIN_SUBSAMPLE_STRIDE = 20


def _subsample_start(
    X: np.ndarray, time: np.ndarray, event: np.ndarray, ties: str, offset: np.ndarray | None,
    ridge: np.ndarray,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Starting coefficients: zeros, or a rough fit on every k-th row of a large data set.

    The full data decide about rank and separation, so the subsample fit runs the
    Newton iterations only (and a diverged subsample start falls back to zeros, from
    where the full fit sees the divergence itself). Also returns the subsample's
    information at 0 scaled to all rows (the reference of the separation test, which
    needs no precision), or None when the start is zeros.
    """
    n, p = np.shape(X)
    stride = n // _SUBSAMPLE_START_ROWS
    if stride < _MIN_SUBSAMPLE_STRIDE or not event[::stride].any():
        return np.zeros(p), None
    rows = slice(None, None, stride)
    sub_time, sub_event = time[rows], event[rows]
    likelihood = _PartialLikelihood(
        np.asarray(X)[rows], sub_event, _blocks(sub_time, sub_event), ties == "efron",
        None if offset is None else np.asarray(offset)[rows],
    )
    state = _newton(likelihood, ridge * sub_event.size / n, np.zeros(p), 1e-3, 100)
    beta = state.current.beta
    usable = state.converged and state.reference is not None and np.isfinite(beta).all() and not (
        diverging_directions(state.information, state.reference).shape[1])
    return (beta, state.reference * (n / sub_event.size)) if usable else (np.zeros(p), None)


def _newton_step(info: np.ndarray, grad: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.solve(info, grad)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(info, grad, rcond=None)[0]


def _damped_update(value: Callable[[np.ndarray], _Value], current: _Value, step: np.ndarray) -> _Value:
    """Take the Newton step, halving it while the likelihood decreases."""
    loglik = current.log_likelihood
    scale = 1.0
    for _ in range(30):
        new = value(current.beta + scale * step)
        if np.isfinite(new.log_likelihood) and new.log_likelihood >= loglik - 1e-12 * (1 + abs(loglik)):
            return new
        scale /= 2
    return value(current.beta)


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
