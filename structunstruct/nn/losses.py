"""Losses as plain tensor functions, with thin ``nn.Module`` wrappers.

The Cox partial likelihood is computed exactly on the observations given (a
mini-batch forms its own risk sets, as in DeepSurv), with Efron or Breslow handling
of tied event times. Everything is vectorised: one sort, a cumulative
log-sum-exp and segment reductions, O(n log n), and stable for large risk scores
because risk-set sums are only ever formed in log space.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

TIES = ("efron", "breslow")


def cox_ph_loss(log_risk: Tensor, time: Tensor, event: Tensor, ties: str = "efron") -> Tensor:
    """Negative Cox log partial likelihood, averaged over events.

    Parameters
    ----------
    log_risk : Tensor of shape (n,)
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
        Scalar loss; zero (with a graph) when there are no events.

    Notes
    -----
    Whether the batch has tied times is read back to the host (one synchronisation,
    as the data-dependent tie groups need anyway): without ties the risk sets are the
    prefixes of the sorted batch and Efron's and Breslow's likelihoods are both the
    plain one, computed with a single cumulative log-sum-exp.
    """
    if ties not in TIES:
        raise ValueError(f"ties must be one of {list(TIES)}; got {ties!r}")
    log_risk = log_risk.reshape(-1)
    order = torch.argsort(time.reshape(-1), descending=True, stable=True)
    eta = log_risk[order]
    t = time.reshape(-1)[order]
    e = event.reshape(-1)[order].to(eta.dtype)
    n_events = e.sum().clamp_min(1.0)
    if not bool((t[1:] == t[:-1]).any()):
        return -(e * (eta - torch.logcumsumexp(eta, 0))).sum() / n_events
    _, group, counts = torch.unique_consecutive(t, return_inverse=True, return_counts=True)
    last = torch.cumsum(counts, 0) - 1
    log_risk_set = torch.logcumsumexp(eta, 0)[last][group]
    if ties == "efron":
        log_risk_set = log_risk_set + _efron_correction(eta, e, group, log_risk_set, len(counts))
    return -(e * (eta - log_risk_set)).sum() / n_events


def _efron_correction(
    eta: Tensor, e: Tensor, group: Tensor, log_risk_set: Tensor, n_groups: int
) -> Tensor:
    """``log(1 - (l/d) D/R)`` for the l-th of d tied events (0 for censored rows)."""
    d = torch.zeros(n_groups, dtype=eta.dtype, device=eta.device).index_add_(0, group, e)
    masked = torch.where(e > 0, eta, torch.full_like(eta, -torch.inf))
    peak = torch.full((n_groups,), -torch.inf, dtype=eta.dtype, device=eta.device)
    peak = peak.scatter_reduce(0, group, masked, reduce="amax").detach()
    safe_peak = torch.where(torch.isfinite(peak), peak, torch.zeros_like(peak))
    tied_sum = torch.zeros_like(peak).index_add_(0, group, torch.exp(masked - safe_peak[group]))
    log_tied = torch.log(tied_sum.clamp_min(torch.finfo(eta.dtype).tiny)) + safe_peak
    rank = _rank_within_group(e, group, n_groups)
    frac = torch.where(e > 0, rank / d[group].clamp_min(1.0), torch.zeros_like(rank))
    ratio = torch.exp((log_tied[group] - log_risk_set).clamp_max(0.0))
    return torch.where(e > 0, torch.log1p(-frac * ratio), torch.zeros_like(eta))


def _rank_within_group(e: Tensor, group: Tensor, n_groups: int) -> Tensor:
    """0, 1, ..., d-1 for the events of each tie group (rows are grouped contiguously)."""
    before = torch.cumsum(e, 0) - e
    first_index = torch.zeros(n_groups, dtype=torch.long, device=e.device)
    positions = torch.arange(len(e), device=e.device)
    first_index = first_index.scatter_reduce(
        0, group, positions, reduce="amin", include_self=False
    )
    return before - before[first_index][group]


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
