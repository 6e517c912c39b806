"""Losses as plain tensor functions, with thin ``nn.Module`` wrappers.

The Cox partial likelihood is computed exactly on the observations given (a
mini-batch forms its own risk sets, as in DeepSurv), with Efron or Breslow handling
of tied event times. It is one autograd node with an analytic gradient:

- :class:`RiskSets` is the combinatorial structure of a batch (sort order, tie
  groups, Efron's fractions). It depends only on the times and events and is built
  on the host with numpy.
- :func:`_loss_and_gradient` evaluates the loss and, in the same pass, its gradient,
  written once against a small array namespace: numpy in float64 for scores on the
  CPU (a few dozen operations on a mini-batch cost microseconds there, where every
  torch operation and autograd node costs ten or more), torch on an accelerator.
  Risk-set sums are only ever formed in log space or relative to the risk set's own
  log-sum, so large scores are stable.

Across processes (``torch.distributed``, inside
:func:`~structunstruct.training.distributed.sharded_batches`), :func:`cox_ph_loss`
gathers the risk scores of every rank with gradients, and the times and events
without, builds the risk sets of the global batch and adds only this rank's events
(``RiskSets.scored``), scaled by ``W / D`` (``W`` ranks, ``D`` events in the global
batch). The losses of the ranks sum to ``W`` times the global loss; the gather's
backward pass sums each rank's score gradients over ranks and DDP averages the
parameter gradients over ranks, so the result is the gradient of the global loss.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from ...training import distributed

TIES = ("efron", "breslow")


@dataclass(frozen=True)
class RiskSets:
    """The risk-set structure of one batch, in descending order of time.

    Row ``k`` of the sorted batch belongs to the risk sets of its own tie group and of
    every later group (all rows of groups ``0 .. g`` are at risk at the time of group
    ``g``). The arrays are numpy arrays on the host, or tensors after :meth:`to`.

    Attributes
    ----------
    order : array of int64, shape (n,)
        Rows of the batch sorted by decreasing time (stable).
    event : array of float, shape (n,)
        Event indicator (0/1) of the sorted rows.
    last, first : array of int64, shape (n,), or None
        Position of the last (first) row of each sorted row's tie group: the log-sum
        of the risk set is the cumulative log-sum-exp at ``last``. ``None`` when no
        times are tied (each row is its own group).
    group : array of int64, shape (n,), or None
        Tie group of each sorted row; ``None`` when no times are tied.
    fraction : array of float, shape (n,), or None
        Efron's ``l / d`` for the ``l``-th (from 0) of ``d`` tied events of a group
        (0 for censored rows); ``None`` under Breslow or without ties.
    n_groups, n_events : int
    scored : array of float, shape (n,), or None
        1 for the sorted rows whose event terms enter the loss (the others only
        enter risk sets and Efron's tied sums); ``None``: every event.
    scale : float or None
        Factor of the summed event terms; ``None``: ``1 / max(n_events, 1)``.
    """

    order: Any
    event: Any
    last: Any = None
    first: Any = None
    group: Any = None
    fraction: Any = None
    n_groups: int = 0
    n_events: int = 0
    scored: Any = None
    scale: float | None = None

    @classmethod
    def from_arrays(cls, time: np.ndarray, event: np.ndarray, ties: str = "efron") -> RiskSets:
        """Build the structure (numpy, float64 values) from times and event indicators."""
        if ties not in TIES:
            raise ValueError(f"ties must be one of {list(TIES)}; got {ties!r}")
        time = np.asarray(time).reshape(-1)
        order = np.argsort(-time, kind="stable")
        t = time[order]
        e = (np.asarray(event).reshape(-1)[order] != 0).astype(np.float64)
        n, n_events = len(t), int(np.count_nonzero(e))
        starts = np.empty(n, dtype=bool)
        starts[:1] = True
        np.not_equal(t[1:], t[:-1], out=starts[1:])
        if starts.all():
            return cls(order, e, n_groups=n, n_events=n_events)
        group = np.cumsum(starts) - 1
        n_groups = int(group[-1]) + 1
        first_of_group = np.flatnonzero(starts)
        first = first_of_group[group]
        last = (np.append(first_of_group[1:], n) - 1)[group]
        fraction = _efron_fraction(e, group, first, n_groups) if ties == "efron" else None
        return cls(order, e, last, first, group, fraction, n_groups, n_events)

    def to(self, device: torch.device, dtype: torch.dtype) -> RiskSets:
        """The same structure as tensors on ``device`` (values in ``dtype``)."""
        def convert(value: Any) -> Any:
            if not isinstance(value, np.ndarray):
                return value
            tensor = torch.from_numpy(value)
            if tensor.is_floating_point():
                tensor = tensor.to(dtype)
            return tensor.to(device, non_blocking=True)

        return replace(self, **{f.name: convert(getattr(self, f.name)) for f in fields(self)})

    def scoring(self, rows: np.ndarray, scale: float) -> RiskSets:
        """The same risk sets with only the events of ``rows`` (unsorted positions) scored.

        Parameters
        ----------
        rows : array of bool, shape (n,)
            Rows (in the original order) whose event terms enter the loss.
        scale : float
            Factor of the summed event terms.
        """
        scored = np.asarray(rows, dtype=np.float64).reshape(-1)[self.order]
        return replace(self, scored=scored, scale=float(scale))


def _efron_fraction(e: np.ndarray, group: np.ndarray, first: np.ndarray, n_groups: int) -> np.ndarray:
    """``l / d`` for the ``l``-th (from 0) of the ``d`` events of each tie group."""
    events_before = np.cumsum(e) - e
    rank = events_before - events_before[first]
    d = np.bincount(group, weights=e, minlength=n_groups)[group]
    return np.where(e > 0, rank / np.maximum(d, 1.0), 0.0)


class _NumpyOps:
    """The array operations of :func:`_loss_and_gradient`, for numpy arrays."""

    exp, log1p, where, dot = np.exp, np.log1p, np.where, np.dot
    logcumsumexp = np.logaddexp.accumulate

    @staticmethod
    def segment_sum(values: np.ndarray, segment: np.ndarray, n_segments: int) -> np.ndarray:
        return np.bincount(segment, weights=values, minlength=n_segments)

    @staticmethod
    def reverse(values: np.ndarray) -> np.ndarray:
        return values[::-1]


class _TorchOps:
    """The array operations of :func:`_loss_and_gradient`, for 1-d tensors."""

    exp, log1p, where, dot = torch.exp, torch.log1p, torch.where, torch.dot

    @staticmethod
    def logcumsumexp(values: Tensor) -> Tensor:
        return torch.logcumsumexp(values, 0)

    @staticmethod
    def segment_sum(values: Tensor, segment: Tensor, n_segments: int) -> Tensor:
        return values.new_zeros(n_segments).index_add_(0, segment, values)

    @staticmethod
    def reverse(values: Tensor) -> Tensor:
        return values.flip(0)


def _loss_and_gradient(eta: Any, risk_sets: RiskSets, ops: Any, with_gradient: bool) -> tuple[Any, Any]:
    """Negative log partial likelihood over events and its gradient, on sorted scores.

    With the log-sum ``lrs_i`` of the risk set of event ``i`` and Efron's correction
    ``c_i = log(1 - f_i D_g / R_g)`` (``D_g`` the tied events' sum of ``exp(eta)``,
    ``R_g`` the risk set's), the denominator of event ``i`` is ``den_i = lrs_i + c_i``
    and the loss is ``sum_i (den_i - eta_i) / n_events``. Its derivative for row ``k``
    is ``(sum_{i: k at risk} exp(eta_k - den_i) - e_k (exp(eta_k) / R_g) sum_{i tied
    with k} f_i / (1 - f_i D_g / R_g) - e_k) / n_events``, where the first sum runs
    over the events of ``k``'s group and of all later groups: a reverse cumulative
    log-sum-exp. Returns ``(loss, gradient)``, the gradient ``None`` when not asked for.
    """
    e = risk_sets.event
    scored = e if risk_sets.scored is None else e * risk_sets.scored  # events whose terms count
    lrs = ops.logcumsumexp(eta)
    if risk_sets.last is not None:
        lrs = lrs[risk_sets.last]
    den, corr, relative = lrs, None, None
    if risk_sets.fraction is not None:
        relative = ops.exp(eta - lrs)  # exp(eta_k) / R_g, at most 1
        tied = ops.segment_sum(relative * e, risk_sets.group, risk_sets.n_groups)  # D_g / R_g
        corr = ops.log1p(-risk_sets.fraction * tied[risk_sets.group])
        den = lrs + corr
    scale = risk_sets.scale if risk_sets.scale is not None else 1.0 / max(risk_sets.n_events, 1)
    loss = ops.dot(scored, den - eta) * scale
    if not with_gradient:
        return loss, None
    after = ops.reverse(ops.logcumsumexp(ops.reverse(ops.where(scored > 0, -den, -np.inf))))
    if risk_sets.first is not None:
        after = after[risk_sets.first]
    grad = ops.exp(eta + after) - scored
    if corr is not None:
        weight = scored * risk_sets.fraction * ops.exp(-corr)  # f_i / (1 - f_i D_g / R_g)
        per_group = ops.segment_sum(weight, risk_sets.group, risk_sets.n_groups)
        grad = grad - e * relative * per_group[risk_sets.group]
    return loss, grad * scale


_NUMPY_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}


class _CoxPartialLikelihood(torch.autograd.Function):
    """The loss of :func:`cox_ph_loss` as one autograd node.

    The gradient is computed in the forward pass (when the scores need one) and
    scaled in the backward pass; it is not itself differentiable.
    """

    @staticmethod
    def forward(ctx, log_risk: Tensor, risk_sets: RiskSets) -> Tensor:  # type: ignore[override]
        with_gradient = bool(ctx.needs_input_grad[0])
        host_dtype = _NUMPY_DTYPES.get(log_risk.dtype)
        if log_risk.device.type == "cpu" and host_dtype is not None:
            eta = log_risk.detach().numpy().reshape(-1).astype(np.float64)[risk_sets.order]
            loss, grad = _loss_and_gradient(eta, risk_sets, _NumpyOps, with_gradient)
            loss = torch.from_numpy(np.asarray(loss, dtype=host_dtype))
            if grad is not None:
                unsorted = np.empty(len(grad), dtype=host_dtype)
                unsorted[risk_sets.order] = grad
                grad = torch.from_numpy(unsorted)
        else:
            flat = log_risk.detach().reshape(-1)
            if isinstance(risk_sets.order, np.ndarray):
                risk_sets = risk_sets.to(flat.device, flat.dtype)
            eta = flat[risk_sets.order]
            loss, grad = _loss_and_gradient(eta, risk_sets, _TorchOps, with_gradient)
            if grad is not None:
                grad = torch.empty_like(grad).index_copy_(0, risk_sets.order, grad)
        if grad is not None:
            ctx.save_for_backward(grad.reshape(log_risk.shape))
        return loss

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        (grad,) = ctx.saved_tensors
        return grad * grad_output, None


def cox_ph_loss(log_risk: Tensor, time: Tensor, event: Tensor, ties: str = "efron") -> Tensor:
    """Negative Cox log partial likelihood, averaged over events.

    Parameters
    ----------
    log_risk : Tensor of shape (n,) or (n, 1)
        Log hazard ratios (the linear predictor).
    time : Tensor of shape (n,)
        Observed times.
    event : Tensor of shape (n,)
        1/True for an event, 0/False for censoring.
    ties : {"efron", "breslow"}
        Handling of tied event times.

    Returns
    -------
    Tensor
        Scalar loss; zero (with a zero gradient) when there are no events.

    Notes
    -----
    The risk-set structure is built on the host from ``time`` and ``event`` (copied
    there when they live on an accelerator: one small transfer, which the
    data-dependent tie groups need anyway). Scores on the CPU are evaluated in
    float64 with numpy; on an accelerator with torch in their own dtype. Without tied
    times Efron's and Breslow's likelihoods are both the plain one. The gradient is
    analytic and not itself differentiable (no second derivatives).
    """
    if distributed.in_sharded_batch():
        return _sharded_cox_ph_loss(log_risk, time, event, ties)
    risk_sets = RiskSets.from_arrays(_host_array(time), _host_array(event), ties)
    return cox_partial_likelihood(log_risk, risk_sets)


def _sharded_cox_ph_loss(log_risk: Tensor, time: Tensor, event: Tensor, ties: str) -> Tensor:
    """This rank's share of the global batch's Cox loss (see the module docstring).

    The risk scores of all ranks are gathered with gradients; the risk sets are those
    of the global batch; only this rank's events are scored, scaled by ``W / D``.
    """
    flat = log_risk.reshape(-1)
    scores, own = distributed.gather_with_grad(flat)
    times = _host_array(distributed.gather(time.reshape(-1)))
    events = _host_array(distributed.gather(event.reshape(-1)))
    rows = np.zeros(len(times), dtype=bool)
    rows[own] = True
    risk_sets = RiskSets.from_arrays(times, events, ties)
    risk_sets = risk_sets.scoring(rows, distributed.world_size() / max(risk_sets.n_events, 1))
    return cox_partial_likelihood(scores, risk_sets)


def cox_partial_likelihood(log_risk: Tensor, risk_sets: RiskSets) -> Tensor:
    """The loss of :func:`cox_ph_loss` for a precomputed :class:`RiskSets`."""
    return _CoxPartialLikelihood.apply(log_risk, risk_sets)


def _host_array(values: Tensor) -> np.ndarray:
    values = values.detach()
    return values.numpy() if values.device.type == "cpu" else values.cpu().numpy()


class CoxPHLoss(nn.Module):
    """Module wrapper of :func:`cox_ph_loss`.

    Parameters
    ----------
    ties : {"efron", "breslow"}
    """

    def __init__(self, ties: str = "efron") -> None:
        super().__init__()
        if ties not in TIES:
            raise ValueError(f"ties must be one of {list(TIES)}; got {ties!r}")
        self.ties = ties

    def forward(self, log_risk: Tensor, time: Tensor, event: Tensor) -> Tensor:
        return cox_ph_loss(log_risk, time, event, self.ties)


class RiskSetMemory:
    """A queue of past risk scores that widens the risk sets of small Cox batches.

    The queue of MoCo (He et al., "Momentum Contrast for Unsupervised Visual
    Representation Learning", CVPR 2020), a first-in first-out store of detached
    outputs of earlier steps that enlarges the set each example is contrasted with,
    applied to the Cox partial likelihood: the loss of a batch is the partial
    likelihood of the batch together with the last ``size`` rows of earlier batches
    (their scores detached, as the network computed them then, without MoCo's
    momentum encoder). The past rows enter the risk sets of the batch's events and
    their own events are scored against risk sets that include the batch's rows, so
    a batch of one row still gets a gradient, and the mini-batch likelihood comes
    closer to the full one (whose gap grows as batches shrink: Zeng et al., "Mini-batch
    estimation for deep Cox models", arXiv 2408.02839).

    Parameters
    ----------
    size : int
        Rows kept (the most recent ones).
    ties : {"efron", "breslow"}

    Attributes
    ----------
    scores, time, event : Tensor of shape (m,), m <= size
        The queue (most recent rows last).
    """

    def __init__(self, size: int, ties: str = "efron") -> None:
        if size < 1:
            raise ValueError(f"size must be a positive number of rows; got {size!r}")
        if ties not in TIES:
            raise ValueError(f"ties must be one of {list(TIES)}; got {ties!r}")
        self.size = size
        self.ties = ties
        self.scores = self.time = self.event = torch.zeros(0)

    def loss(self, log_risk: Tensor, time: Tensor, event: Tensor) -> Tensor:
        """Cox loss of the batch with the queued rows; then the batch joins the queue.

        Parameters
        ----------
        log_risk : Tensor of shape (n,) or (n, 1)
        time, event : Tensor of shape (n,)

        Returns
        -------
        Tensor
            :func:`cox_ph_loss` of the concatenated scores (the queued ones detached),
            times and events, averaged over all their events.
        """
        if distributed.in_sharded_batch():
            raise NotImplementedError(
                "RiskSetMemory under torch.distributed is not implemented; the gathered "
                "global batch already widens the risk sets (use a larger per-process batch)"
            )
        scores = log_risk.reshape(-1)
        past = [t.to(scores.device) for t in (self.scores, self.time, self.event)]
        value = cox_ph_loss(
            torch.cat([scores, past[0].to(scores.dtype)]),
            torch.cat([time.reshape(-1), past[1].to(time.dtype)]),
            torch.cat([event.reshape(-1), past[2].to(event.dtype)]),
            self.ties,
        )
        self._push(scores.detach(), time.reshape(-1).detach(), event.reshape(-1).detach())
        return value

    def _push(self, scores: Tensor, time: Tensor, event: Tensor) -> None:
        """Put the batch at the end of the queue; keep the last ``size`` rows."""
        def push(old: Tensor, new: Tensor) -> Tensor:
            return torch.cat([old.to(new.device, new.dtype), new])[-self.size:]

        self.scores, self.time, self.event = (
            push(self.scores, scores), push(self.time, time), push(self.event, event))
