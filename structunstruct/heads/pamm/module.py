"""The piecewise-exponential (PAMM) head: Poisson loss with a log-exposure offset.

A subject at risk for ``e_k`` time units in interval ``k`` with event indicator
``d_k`` and log hazard ``eta_k`` contributes the Poisson negative log-likelihood
``exp(eta_k + log e_k) - d_k (eta_k + log e_k)`` (the ``log d_k!`` term is 0).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from ...nn.predictor import AdditivePredictor
from ...training.distributed import global_mean


def poisson_offset_loss(eta: Tensor, offset: Tensor, events: Tensor) -> Tensor:
    """Poisson negative log-likelihood with an offset, averaged over rows.

    Parameters
    ----------
    eta : Tensor of shape (n,)
        Linear predictor (log rate) without the offset.
    offset : Tensor of shape (n,)
        Log exposure.
    events : Tensor of shape (n,)
        Event counts (0/1 on piecewise-exponential data).

    Returns
    -------
    Tensor
        Scalar ``mean(exp(eta + offset) - events * (eta + offset))``; on one rank's
        shard of a global batch, its share of the global mean
        (:func:`~structunstruct.training.distributed.global_mean`).
    """
    linear = eta + offset
    return global_mean((torch.exp(linear) - events * linear).sum(), len(linear))


def piecewise_exponential_loss(log_hazard: Tensor, exposure: Tensor, status: Tensor) -> Tensor:
    """Poisson negative log-likelihood of data in dense subject-by-interval layout.

    Parameters
    ----------
    log_hazard : Tensor of shape (n, K)
        Log hazard of each subject in each interval.
    exposure : Tensor of shape (n, K)
        Time at risk (0 where the subject is not at risk: those cells are skipped).
    status : Tensor of shape (n, K)
        1 in the interval of the subject's event, else 0.

    Returns
    -------
    Tensor
        Scalar: the summed negative log-likelihood divided by the number of at-risk
        cells (PED rows) in the batch (on one rank's shard of a global batch: of the
        global batch, :func:`~structunstruct.training.distributed.global_mean`).
    """
    at_risk = exposure > 0
    log_exposure = torch.log(torch.where(at_risk, exposure, torch.ones_like(exposure)))
    linear = log_hazard.float() + log_exposure
    nll = exposure * torch.exp(log_hazard.float()) - status * linear
    nll = torch.where(at_risk, nll, torch.zeros_like(nll))
    return global_mean(nll.sum(), at_risk.sum())


class PiecewiseExponentialLoss(nn.Module):
    """Module wrapper of :func:`piecewise_exponential_loss`."""

    def forward(self, log_hazard: Tensor, exposure: Tensor, status: Tensor) -> Tensor:
        return piecewise_exponential_loss(log_hazard, exposure, status)


class PAMMPredictor(nn.Module):
    """Log hazard per subject and interval: time terms plus an additive predictor.

    ``log h_ik = B_k theta + eta_i + sum_j x_ij T_k gamma_j + u_{g(i)}``, where
    ``eta_i`` is the :class:`AdditivePredictor` (structured + deep, time-constant),
    ``B`` the baseline basis, ``T`` the time-varying basis at the interval times,
    ``x_ij`` the structured columns with time-varying effects, ``u`` random intercepts.

    Parameters
    ----------
    predictor : AdditivePredictor
    baseline_basis : Tensor of shape (K, n_baseline)
    tv_basis : Tensor of shape (K, q)
    tv_columns : sequence of int
        Columns of ``batch["structured"]`` with time-varying effects.
    n_groups : int
        Levels of the random intercept (0 for none); ``batch["group"]`` holds codes,
        -1 for an unseen level.
    penalty : Tensor of shape (n_time + n_structured, n_time + n_structured), optional
        Quadratic penalty on ``[baseline, structured weights, tv, random]`` (already
        multiplied by the smoothing parameters), see :meth:`penalty_value`.

    Attributes
    ----------
    out_dim : int
        The number of intervals K.
    """

    def __init__(
        self,
        predictor: AdditivePredictor,
        baseline_basis: Tensor,
        tv_basis: Tensor,
        tv_columns: list[int],
        n_groups: int = 0,
        penalty: Tensor | None = None,
    ) -> None:
        super().__init__()
        self.predictor = predictor
        self.register_buffer("baseline_basis", baseline_basis.float())
        self.register_buffer("tv_basis", tv_basis.float())
        self.register_buffer("tv_columns", torch.as_tensor(list(tv_columns), dtype=torch.long))
        self.register_buffer("penalty", penalty.float() if penalty is not None else None)
        self.baseline = nn.Parameter(torch.zeros(baseline_basis.shape[1]))
        self.time_varying = nn.Parameter(torch.zeros(len(tv_columns), tv_basis.shape[1]))
        self.random = nn.Parameter(torch.zeros(n_groups))
        self.out_dim = int(baseline_basis.shape[0])

    @property
    def has_deep_part(self) -> bool:
        """Whether the additive predictor has a deep part."""
        return self.predictor.has_deep_part

    def coefficients(self) -> Tensor:
        """``[baseline, structured, time-varying, random]`` as one vector."""
        structured = (
            self.predictor.structured.weight[0]
            if self.predictor.structured is not None
            else self.baseline.new_zeros(0)
        )
        return torch.cat([self.baseline, structured, self.time_varying.reshape(-1), self.random])

    def set_coefficients(self, coef: Tensor) -> None:
        """Copy a vector laid out as :meth:`coefficients` into the parameters."""
        sizes = [self.baseline.numel(), self.predictor.n_structured, self.time_varying.numel()]
        parts = torch.split(coef.float(), [*sizes, self.random.numel()])
        with torch.no_grad():
            self.baseline.copy_(parts[0])
            if self.predictor.structured is not None:
                self.predictor.structured.weight.copy_(parts[1][None, :])
            self.time_varying.copy_(parts[2].reshape(self.time_varying.shape))
            self.random.copy_(parts[3])

    def penalty_value(self) -> Tensor:
        """``1/2 c' P c`` for the coefficient vector ``c`` (0 without a penalty)."""
        if self.penalty is None:
            return self.baseline.new_zeros(())
        coef = self.coefficients()
        return 0.5 * coef @ self.penalty @ coef

    def forward(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Evaluate the predictor.

        Returns
        -------
        dict with ``"eta"``, ``"structured"``, ``"deep"`` of shape (n, 1) (the
        time-constant parts) and ``"log_hazard"`` of shape (n, K).
        """
        out = self.predictor(batch)
        log_hazard = out["eta"] + (self.baseline_basis @ self.baseline)[None, :]
        if self.tv_columns.numel():
            x = batch["structured"][:, self.tv_columns].float()
            log_hazard = log_hazard + x @ (self.tv_basis @ self.time_varying.T).T
        if self.random.numel():
            group = batch["group"]
            effect = self.random[group.clamp_min(0)]
            log_hazard = log_hazard + torch.where(group >= 0, effect, torch.zeros_like(effect))[:, None]
        return {**out, "log_hazard": log_hazard}


__all__ = [
    "PAMMPredictor",
    "PiecewiseExponentialLoss",
    "piecewise_exponential_loss",
    "poisson_offset_loss",
]
