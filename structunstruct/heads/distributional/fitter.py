"""Structured distributional regression by full-batch penalized maximum likelihood.

Every distribution parameter ``k`` has a linear predictor ``eta_k = X_k theta_k +
offset_k``; the negative log-likelihood plus ``theta' P theta / 2`` (P: smoothing
penalties of P-spline terms) is minimised by Newton-Raphson in float64 with the exact
Hessian from autograd, step halving and a Levenberg ridge where the Hessian is not
positive definite. The smoothing weight of each spline is chosen so that the term has
its requested effective degrees of freedom (evaluated with the observed information at
the fit, a few outer rounds). Covariance: the inverse penalized observed information
(for unpenalized models the usual ML covariance; with penalties the Bayesian
covariance of Wood 2006). Directions along which the likelihood is monotone
(separation: a covariate that predicts a binary response perfectly, a level whose
counts are all zero) are found, warned about by name, marked not converged and given
a huge variance (:mod:`structunstruct.classical.diagnostics`); the rank of each design
is the caller's to check, where the columns have names, before any training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from ...classical.diagnostics import find_separation, inflate_covariance
from ...classical.penalty import Penalty
from ...data.splines import smoothing_parameter_for_df
from .families import Family


@dataclass(frozen=True)
class DistributionalFit:
    """Result of :func:`fit_distributional`.

    Attributes
    ----------
    coef : list of ndarray
        Coefficients of each parameter's design.
    covariance : ndarray of shape (p, p)
        Inverse penalized observed information over all coefficients (concatenated).
    log_likelihood : float
        Log-likelihood at the fit (without penalty).
    smoothing : list of float
        Smoothing weight of each :class:`Penalty`.
    edf : float
        Effective degrees of freedom of the whole model.
    n_iter : int
    converged : bool
        False also when coefficients diverge (separation).
    diverging : ndarray of shape (p, k), optional
        Unit directions along which the coefficients diverge (``k = 0``: none).
    """

    coef: list[np.ndarray]
    covariance: np.ndarray
    log_likelihood: float
    smoothing: list[float]
    edf: float
    n_iter: int
    converged: bool
    diverging: np.ndarray | None = None


class _Objective:
    """Negative penalized log-likelihood as a function of the flat coefficients."""

    def __init__(self, family: Family, y: np.ndarray, designs: Sequence[np.ndarray], offsets) -> None:
        self.family = family
        self.y = torch.as_tensor(y, dtype=torch.float64)
        self.designs = [torch.as_tensor(x, dtype=torch.float64) for x in designs]
        n = len(y)
        self.offsets = [
            torch.zeros(n, dtype=torch.float64) if o is None else torch.as_tensor(o, dtype=torch.float64)
            for o in (offsets if offsets is not None else [None] * len(designs))
        ]
        self.sizes = [x.shape[1] for x in self.designs]
        self.penalty = torch.zeros(sum(self.sizes), sum(self.sizes), dtype=torch.float64)

    def split(self, theta: torch.Tensor) -> list[torch.Tensor]:
        return list(torch.split(theta, self.sizes))

    def eta(self, theta: torch.Tensor) -> torch.Tensor:
        parts = self.split(theta)
        return torch.stack([x @ t + o for x, t, o in zip(self.designs, parts, self.offsets)], dim=1)

    def log_likelihood(self, theta: torch.Tensor) -> torch.Tensor:
        return self.family.log_prob(self.eta(theta), self.y).sum()

    def __call__(self, theta: torch.Tensor) -> torch.Tensor:
        return -self.log_likelihood(theta) + 0.5 * theta @ self.penalty @ theta

    def derivatives(self, theta: torch.Tensor) -> tuple[float, np.ndarray, np.ndarray]:
        theta = theta.detach().requires_grad_(True)
        value = self(theta)
        (grad,) = torch.autograd.grad(value, theta)
        hess = self.information(theta.detach().numpy()) + self.penalty.numpy()
        return float(value.detach()), grad.numpy(), hess

    def information(self, theta: np.ndarray) -> np.ndarray:
        """Observed information of the log-likelihood (outer product of scores when not smooth)."""
        theta = torch.as_tensor(theta, dtype=torch.float64)
        if not self.family.smooth:
            return self._outer_product_of_scores(theta)
        hess = torch.autograd.functional.hessian(lambda t: -self.log_likelihood(t), theta)
        return hess.numpy()

    def _outer_product_of_scores(self, theta: torch.Tensor) -> np.ndarray:
        eta = self.eta(theta).detach().requires_grad_(True)
        (scores,) = torch.autograd.grad(self.family.log_prob(eta, self.y).sum(), eta)
        jac = torch.cat([scores[:, k:k + 1] * x for k, x in enumerate(self.designs)], dim=1)
        return (jac.T @ jac).numpy()


def _newton_direction(grad: np.ndarray, hess: np.ndarray) -> np.ndarray:
    ridge = 0.0
    scale = max(float(np.abs(np.diag(hess)).max(initial=0.0)), 1e-8)
    for _ in range(30):
        try:
            chol = np.linalg.cholesky(hess + ridge * np.eye(len(grad)))
        except np.linalg.LinAlgError:
            ridge = max(ridge * 10, 1e-8 * scale)
            continue
        return np.linalg.solve(chol.T, np.linalg.solve(chol, grad))
    return grad / scale


def _newton(objective: _Objective, theta: np.ndarray, max_iter: int, tol: float) -> tuple[np.ndarray, int, bool]:
    """Minimise ``objective`` from ``theta``; returns (theta, iterations, converged)."""
    for it in range(1, max_iter + 1):
        value, grad, hess = objective.derivatives(torch.as_tensor(theta))
        step = _newton_direction(grad, hess)
        t = 1.0
        while t > 1e-10:
            candidate = theta - t * step
            new = float(objective(torch.as_tensor(candidate)))
            if np.isfinite(new) and new <= value + 1e-12 * abs(value):
                break
            t /= 2
        else:  # no descent: a minimum (at a kink when the likelihood is not smooth)
            small = np.abs(grad).max() < 1e-6 * max(1.0, abs(value))
            return theta, it, bool(small or not objective.family.smooth)
        theta = candidate
        if np.abs(t * step).max() < tol * (1 + np.abs(theta).max()) or (
            not objective.family.smooth and value - new < tol * abs(value)
        ):
            return theta, it, True
    return theta, max_iter, False


def _penalty_matrix(sizes: Sequence[int], smooths: Sequence[Penalty], lams: Sequence[float]) -> np.ndarray:
    starts = np.concatenate([[0], np.cumsum(sizes)])
    penalty = np.zeros((starts[-1], starts[-1]))
    for smooth, lam in zip(smooths, lams):
        idx = np.arange(smooth.columns.start, smooth.columns.stop) + starts[smooth.parameter]
        penalty[np.ix_(idx, idx)] += lam * smooth.matrix
    return penalty


def _smoothing_for_df(
    info: np.ndarray, sizes: Sequence[int], smooths: Sequence[Penalty]
) -> list[float]:
    starts = np.concatenate([[0], np.cumsum(sizes)])
    lams = []
    for smooth in smooths:
        idx = np.arange(smooth.columns.start, smooth.columns.stop) + starts[smooth.parameter]
        if smooth.lam is not None:
            lams.append(smooth.lam)
            continue
        gram = info[np.ix_(idx, idx)]
        gram = (gram + gram.T) / 2
        lams.append(smoothing_parameter_for_df(gram, smooth.matrix, smooth.df))
    return lams


def fit_distributional(
    family: Family,
    y: np.ndarray,
    designs: Sequence[np.ndarray],
    offsets: Sequence[np.ndarray | None] | None = None,
    smooths: Sequence[Penalty] = (),
    init: Sequence[np.ndarray] | None = None,
    max_iter: int = 100,
    tol: float = 1e-10,
    smoothing_rounds: int = 4,
    names: Sequence[str] | None = None,
    reference: Sequence[np.ndarray] | None = None,
) -> DistributionalFit:
    """Fit a structured distributional regression by penalized maximum likelihood.

    Parameters
    ----------
    family : Family
    y : ndarray of shape (n,)
    designs : sequence of ndarray
        One design of shape (n, p_k) per distribution parameter (include a column of
        ones for an intercept; ``p_k = 0`` makes the parameter equal to its offset).
    offsets : sequence of (ndarray of shape (n,) or None), optional
        Fixed offsets added to each predictor (e.g. a trained deep part).
    smooths : sequence of Penalty
        Smoothing penalties; their weights are chosen for the requested df.
    init : sequence of ndarray, optional
        Starting coefficients; default zeros.
    max_iter : int
    tol : float
        Convergence tolerance on the relative Newton step.
    smoothing_rounds : int
        Outer rounds of re-choosing the smoothing weights.
    names : sequence of str, optional
        Names of all coefficients (designs concatenated) for the separation warning.
    reference : sequence of ndarray, optional
        Coefficients away from any divergence (the intercepts of the marginal, slopes
        0) where the information is compared with the fit's; default ``init``.

    Returns
    -------
    DistributionalFit

    Warns
    -----
    ConvergenceWarning
        Naming the columns whose coefficients diverge (separation).
    """
    y = np.asarray(y, dtype=np.float64)
    objective = _Objective(family, y, designs, offsets)
    theta = np.concatenate([np.zeros(s) for s in objective.sizes]) if init is None else np.concatenate(init)
    theta = theta.astype(np.float64)
    lams = [1.0 if smooth.lam is None else smooth.lam for smooth in smooths]
    n_iter = 0
    for _ in range(max(1, smoothing_rounds) if smooths else 1):
        objective.penalty = torch.as_tensor(_penalty_matrix(objective.sizes, smooths, lams))
        theta, it, converged = _newton(objective, theta, max_iter, tol)
        n_iter += it
        if not smooths:
            break
        new = _smoothing_for_df(objective.information(theta), objective.sizes, smooths)
        done = np.allclose(np.log(new), np.log(lams), atol=1e-3)
        lams = new
        if done:
            break
    if smooths:
        objective.penalty = torch.as_tensor(_penalty_matrix(objective.sizes, smooths, lams))
        theta, it, converged = _newton(objective, theta, max_iter, tol)
        n_iter += it
    fit = _result(objective, theta, lams, n_iter, converged)
    start = np.concatenate(reference) if reference is not None else np.concatenate(
        [np.zeros(k) for k in objective.sizes]) if init is None else np.concatenate(init)
    names = [f"b{j}" for j in range(len(theta))] if names is None else list(names)
    return _check_separation(objective, fit, theta, start.astype(np.float64), names)


def _check_separation(
    objective: _Objective, fit: DistributionalFit, theta: np.ndarray, start: np.ndarray, names: list
) -> DistributionalFit:
    """Mark, warn about and inflate the variance of diverging directions."""
    penalty = objective.penalty.numpy()
    with np.errstate(all="ignore"):
        information = objective.information(theta) + penalty
        reference = objective.information(start) + penalty
    free = np.flatnonzero(~np.any(penalty != 0, axis=0))
    directions = find_separation(
        information, reference, lambda t: float(objective.log_likelihood(torch.as_tensor(t))), theta, free,
        names, f"{objective.family.name} regression",
    )
    if not directions.shape[1]:
        return replace(fit, diverging=directions)
    return replace(fit, covariance=inflate_covariance(fit.covariance, directions), converged=False,
                   diverging=directions)


def _result(objective: _Objective, theta: np.ndarray, lams, n_iter: int, converged: bool) -> DistributionalFit:
    info = objective.information(theta)
    penalized = info + objective.penalty.numpy()
    covariance = np.linalg.pinv((penalized + penalized.T) / 2)
    loglik = float(objective.log_likelihood(torch.as_tensor(theta)))
    coef = [c.numpy() for c in objective.split(torch.as_tensor(theta))]
    edf = float(np.trace(covariance @ info))
    return DistributionalFit(coef, covariance, loglik, list(lams), edf, n_iter, converged)


__all__ = ["DistributionalFit", "fit_distributional"]
