"""Penalized generalized linear models by (penalized) IRLS, numpy only.

``fit_glm`` maximises ``l(beta) - 1/2 sum_j lam_j beta' S_j beta`` for Poisson,
Gaussian, Gamma and binomial responses with log, identity or logit links, an
optional offset and prior weights. Without penalties it is the ordinary GLM
(agrees with statsmodels ``GLM``, standard errors from the Fisher information).
Penalty weights ``lam_j`` are fixed, set from a target effective degrees of freedom,
or estimated by the Fellner-Schall update (Wood & Fasiolo 2017), a fixed-point
iteration to the Laplace-approximate REML estimate; for a ridge block ``S_j = I``
(random intercepts) it is Schall's (1991) update of the variance ``phi / lam_j``.
The covariance is the Bayesian ``phi (X'WX + S_lam)^-1`` (``Vp`` of mgcv).

After the fit, directions along which the (penalized) likelihood is monotone
(separation: a level without events, fitted rates driven to 0) are detected as in
:mod:`structunstruct.classical.diagnostics`: the fit is marked not converged, a
``ConvergenceWarning`` names the columns and the variance along the direction is huge.
The rank of the design is the caller's to check
(:func:`~structunstruct.classical.diagnostics.check_identifiable`), where the columns
have names and before any training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import special

from ...classical.diagnostics import find_separation, inflate_covariance
from ...classical.penalty import Penalty
from ...data.splines import smoothing_parameter_for_df

LAMBDA_BOUNDS = (1e-8, 1e12)


# -- links and families ------------------------------------------------------------------
@dataclass(frozen=True)
class Link:
    """A link ``eta = g(mu)``: its inverse and ``dmu/deta``."""

    name: str

    def inverse(self, eta: np.ndarray) -> np.ndarray:
        if self.name == "log":
            return np.exp(np.clip(eta, -700, 700))
        if self.name == "logit":
            return special.expit(eta)
        return eta

    def derivative(self, eta: np.ndarray, mu: np.ndarray) -> np.ndarray:
        """``dmu/deta`` at ``eta``."""
        if self.name == "log":
            return mu
        if self.name == "logit":
            return np.clip(mu * (1 - mu), 1e-12, None)
        return np.ones_like(eta)

    def __call__(self, mu: np.ndarray) -> np.ndarray:
        if self.name == "log":
            return np.log(mu)
        if self.name == "logit":
            return special.logit(mu)
        return mu


LINKS = {"log": Link("log"), "identity": Link("identity"), "logit": Link("logit")}
#: GLM families by their names in the family registry (:func:`~structunstruct.heads.distributional.families.get_family`).
CANONICAL = {"poisson": "log", "normal": "identity", "gamma": "log", "bernoulli": "logit"}
FIXED_SCALE = {"poisson", "bernoulli"}


def _variance(family: str, mu: np.ndarray) -> np.ndarray:
    if family == "poisson":
        return mu
    if family == "bernoulli":
        return np.clip(mu * (1 - mu), 1e-12, None)
    if family == "gamma":
        return mu**2
    return np.ones_like(mu)


def _unit_deviance(family: str, y: np.ndarray, mu: np.ndarray) -> np.ndarray:
    if family == "poisson":
        return 2 * (special.xlogy(y, y / mu) - (y - mu))
    if family == "bernoulli":
        return 2 * (special.xlogy(y, y / mu) + special.xlogy(1 - y, (1 - y) / (1 - mu)))
    if family == "gamma":
        return 2 * (-np.log(y / mu) + (y - mu) / mu)
    return (y - mu) ** 2


def log_likelihood(family: str, y: np.ndarray, mu: np.ndarray, weights: np.ndarray, scale: float) -> float:
    """Full log-likelihood (constants included, as statsmodels reports it)."""
    if family == "poisson":
        terms = special.xlogy(y, mu) - mu - special.gammaln(y + 1)
    elif family == "bernoulli":
        terms = special.xlogy(y, mu) + special.xlogy(1 - y, 1 - mu)
    elif family == "gamma":
        shape = weights / scale
        return float(np.sum(special.xlogy(shape, shape * y / mu) - shape * y / mu - np.log(y) - special.gammaln(shape)))
    else:
        return float(-0.5 * np.sum(weights * (y - mu) ** 2 / scale + np.log(2 * np.pi * scale / weights)))
    return float(np.sum(weights * terms))


# -- penalties and results ---------------------------------------------------------------
@dataclass(frozen=True)
class GLMFit:
    """Result of :func:`fit_glm`.

    Attributes
    ----------
    coef : ndarray of shape (p,)
    covariance : ndarray of shape (p, p)
        ``scale * (X'WX + S)^-1``.
    scale : float
        Dispersion (1 for Poisson and binomial; Pearson estimate otherwise).
    deviance, log_likelihood : float
    lambdas : dict of str to float
        Final penalty weights by penalty name.
    edf : dict of str to float
        Effective degrees of freedom per penalty block.
    n_iter : int
        Total inner IRLS iterations.
    converged : bool
        False also when coefficients diverge (separation).
    diverging : ndarray of shape (p, k)
        Unit directions along which the coefficients diverge (``k = 0``: none).
    """

    coef: np.ndarray
    covariance: np.ndarray
    scale: float
    deviance: float
    log_likelihood: float
    lambdas: dict
    edf: dict
    n_iter: int
    converged: bool
    diverging: np.ndarray | None = None


@dataclass
class _Problem:
    X: np.ndarray
    y: np.ndarray
    family: str
    link: Link
    offset: np.ndarray
    weights: np.ndarray
    groups: np.ndarray | None = None  # absorbed group intercepts (coefficients first)
    n_groups: int = 0

    @property
    def n_coef(self) -> int:
        return self.n_groups + self.X.shape[1]

    def linear(self, coef: np.ndarray) -> np.ndarray:
        """Linear predictor including the offset."""
        eta = self.X @ coef[self.n_groups:] + self.offset
        if self.groups is not None:
            eta = eta + coef[:self.n_groups][self.groups]
        return eta

    def gram(self, w: np.ndarray) -> np.ndarray:
        """``Z'WZ`` for ``Z = [group indicators | X]`` without forming the indicators."""
        Xw = self.X * w[:, None]
        C = self.X.T @ Xw
        if self.groups is None:
            return C
        k = self.n_groups
        out = np.empty((self.n_coef, self.n_coef))
        out[:k, :k] = np.diag(np.bincount(self.groups, weights=w, minlength=k))
        B = _group_sums(Xw, self.groups, k)
        out[:k, k:], out[k:, :k], out[k:, k:] = B, B.T, C
        return out

    def crossprod(self, v: np.ndarray) -> np.ndarray:
        """``Z'v``."""
        Xv = self.X.T @ v
        if self.groups is None:
            return Xv
        return np.concatenate([np.bincount(self.groups, weights=v, minlength=self.n_groups), Xv])


def _group_sums(values: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """Column sums of ``values`` per group, shape (n_groups, p)."""
    columns = [np.bincount(groups, weights=values[:, j], minlength=n_groups) for j in range(values.shape[1])]
    return np.stack(columns, axis=1) if columns else np.zeros((n_groups, 0))


@dataclass
class _Inner:
    coef: np.ndarray
    gram: np.ndarray  # X'WX at the solution
    mu: np.ndarray
    n_iter: int
    converged: bool


# -- IRLS ------------------------------------------------------------------------------
def _start_eta(prob: _Problem) -> np.ndarray:
    y = prob.y
    if prob.family == "bernoulli":
        mu = (prob.weights * y + 0.5) / (prob.weights + 1)
    else:
        mu = (y + np.average(y, weights=prob.weights)) / 2
    return prob.link(mu)


def _penalized_deviance(prob: _Problem, coef: np.ndarray, S: np.ndarray) -> tuple[float, np.ndarray]:
    eta = prob.linear(coef)
    mu = prob.link.inverse(eta)
    dev = float(np.sum(prob.weights * _unit_deviance(prob.family, prob.y, mu)))
    return dev + 2 * float(coef @ S @ coef), mu


def _working(prob: _Problem, eta: np.ndarray, mu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d = prob.link.derivative(eta, mu)
    w = prob.weights * d**2 / _variance(prob.family, mu)
    z = eta - prob.offset + (prob.y - mu) / d
    return w, z


def _solve(gram: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.solve(gram, rhs)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(gram, rhs, rcond=None)[0]


def _irls(prob: _Problem, S: np.ndarray, coef: np.ndarray | None, tol: float, max_iter: int) -> _Inner:
    """Penalized IRLS with step halving, to convergence of the coefficients."""
    eta = prob.linear(coef) if coef is not None else _start_eta(prob)
    mu = prob.link.inverse(eta)
    old_dev = np.inf if coef is None else _penalized_deviance(prob, coef, S)[0]
    converged, it = False, 0
    while it < max_iter:
        it += 1
        w, z = _working(prob, eta, mu)
        new = _solve(prob.gram(w) + 2 * S, prob.crossprod(w * z))
        dev, mu_new = _penalized_deviance(prob, new, S)
        for _ in range(30):  # step halving against divergence
            if np.isfinite(dev) and (coef is None or dev <= old_dev * (1 + 1e-12) + 1e-12):
                break
            new = (new + coef) / 2
            dev, mu_new = _penalized_deviance(prob, new, S)
        step = np.inf if coef is None else np.max(np.abs(new - coef))
        coef, mu, old_dev = new, mu_new, dev
        eta = prob.linear(coef)
        if step < tol * (1 + np.max(np.abs(coef))):
            converged = True
            break
    w, _ = _working(prob, eta, mu)
    gram = prob.gram(w)
    return _Inner(coef, gram, mu, it, converged)


def _penalty_matrix(penalties: list[Penalty], lambdas: np.ndarray, p: int) -> np.ndarray:
    """``1/2 sum_j lam_j S_j`` embedded in p x p (the deviance scale is twice the loglik)."""
    S = np.zeros((p, p))
    for pen, lam in zip(penalties, lambdas):
        S[pen.columns, pen.columns] += 0.5 * lam * pen.matrix
    return S


def _scale(prob: _Problem, mu: np.ndarray, edf: float) -> float:
    if prob.family in FIXED_SCALE:
        return 1.0
    pearson = np.sum(prob.weights * (prob.y - mu) ** 2 / _variance(prob.family, mu))
    return float(pearson / max(len(prob.y) - edf, 1.0))


def _update_lambdas(
    penalties: list[Penalty], lambdas: np.ndarray, inner: _Inner, scale: float, S: np.ndarray
) -> np.ndarray:
    V = np.linalg.pinv(inner.gram + 2 * S)
    new = lambdas.copy()
    for j, pen in enumerate(penalties):
        block = pen.columns
        if pen.df is not None:
            new[j] = smoothing_parameter_for_df(inner.gram[block, block], pen.matrix, pen.df)
        elif pen.estimated:
            b = inner.coef[block]
            quad = float(b @ pen.matrix @ b)
            trace = float(np.sum(V[block, block] * pen.matrix))
            numerator = max(pen.rank - lambdas[j] * trace, 1e-10)
            new[j] = scale * numerator / max(quad, 1e-300)
    return np.clip(new, *LAMBDA_BOUNDS)


def _edf(penalties: list[Penalty], inner: _Inner, S: np.ndarray) -> tuple[float, dict]:
    influence = np.linalg.pinv(inner.gram + 2 * S) @ inner.gram
    diag = np.diag(influence)
    return float(diag.sum()), {pen.name: float(diag[pen.columns].sum()) for pen in penalties}


def fit_glm(
    X: np.ndarray,
    y: np.ndarray,
    family: str = "poisson",
    link: str | None = None,
    offset: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    penalties: list[Penalty] | None = None,
    groups: np.ndarray | None = None,
    init: np.ndarray | None = None,
    tol: float = 1e-10,
    max_iter: int = 100,
    max_outer: int = 200,
    outer_tol: float = 1e-4,
    names: Sequence[str | None] | None = None,
) -> GLMFit:
    """Fit a (penalized) GLM by IRLS.

    Parameters
    ----------
    X : ndarray of shape (n, p)
        Design matrix (include an intercept column yourself when wanted).
    y : ndarray of shape (n,)
        Response (counts; proportions in [0, 1] for binomial; positive for Gamma).
    family : {"poisson", "normal", "gamma", "bernoulli"}
    link : {"log", "identity", "logit"}, optional
        Default the canonical link (Gamma: log).
    offset : ndarray of shape (n,), optional
        Fixed part of the linear predictor (Poisson rates: log exposure).
    weights : ndarray of shape (n,), optional
        Prior weights (binomial: number of trials).
    penalties : list of Penalty, optional
        Non-overlapping quadratic penalties; their columns index the full coefficient
        vector (group intercepts first).
    groups : ndarray of shape (n,), int, optional
        Codes ``0..G-1`` of a factor whose G indicator columns are added in front of
        ``X`` without being formed (unpenalized intercepts, e.g. one log-hazard per
        interval of piecewise-exponential data; X should then have no intercept).
    init : ndarray of shape (p,), optional
        Starting coefficients.
    tol : float
        Inner convergence: largest coefficient change below ``tol * (1 + max|coef|)``.
    max_iter : int
        Inner IRLS iterations per penalty update.
    max_outer : int
        Penalty-weight updates (only with estimated or df-based penalties).
    outer_tol : float
        Stop when every ``log(lam_j)`` changes by less than this.
    names : sequence of (str or None), optional
        Names of all coefficients (group intercepts first) for the separation warning;
        coefficients named ``None`` (absorbed intercepts) are not named in it. Default
        ``b0, b1, ...``.

    Returns
    -------
    GLMFit

    Warns
    -----
    ConvergenceWarning
        Naming the columns whose coefficients diverge (separation).
    """
    if family not in CANONICAL:
        raise ValueError(f"family must be one of {sorted(CANONICAL)}; got {family!r}")
    link_name = link or CANONICAL[family]
    if link_name not in LINKS:
        raise ValueError(f"link must be one of {sorted(LINKS)}; got {link_name!r}")
    n = X.shape[0]
    groups = None if groups is None else np.asarray(groups, dtype=np.int64)
    prob = _Problem(
        np.asarray(X, dtype=np.float64),
        np.asarray(y, dtype=np.float64),
        family,
        LINKS[link_name],
        np.zeros(n) if offset is None else np.asarray(offset, dtype=np.float64),
        np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64),
        groups,
        0 if groups is None else int(groups.max()) + 1,
    )
    penalties = list(penalties or [])
    fit = _fit_outer(prob, penalties, init, tol, max_iter, max_outer, outer_tol)
    names = [f"b{j}" for j in range(prob.n_coef)] if names is None else list(names)
    return _check_separation(prob, penalties, fit, names)


def _check_separation(prob: _Problem, penalties: list[Penalty], fit: GLMFit, names: list) -> GLMFit:
    """Mark, warn about and inflate the variance of diverging directions."""
    S = _penalty_matrix(penalties, np.asarray([fit.lambdas[pen.name] for pen in penalties]), prob.n_coef)
    eta = _start_eta(prob)
    start_weights, _ = _working(prob, eta, prob.link.inverse(eta))
    with np.errstate(all="ignore"):
        end_weights, _ = _working(prob, prob.linear(fit.coef), prob.link.inverse(prob.linear(fit.coef)))
    penalized = np.zeros(prob.n_coef, dtype=bool)
    for pen in penalties:
        penalized[pen.columns] = True
    free = [j for j in range(prob.n_groups, prob.n_coef) if not penalized[j]]

    def loglik(coef: np.ndarray) -> float:
        mu = prob.link.inverse(prob.linear(coef))
        return -0.5 * float(np.sum(prob.weights * _unit_deviance(prob.family, prob.y, mu)))

    directions = find_separation(
        prob.gram(end_weights) + 2 * S, prob.gram(start_weights) + 2 * S, loglik, fit.coef, free,
        names, f"{prob.family} GLM",
    )
    if not directions.shape[1]:
        return fit
    return replace(fit, covariance=inflate_covariance(fit.covariance, directions), converged=False,
                   diverging=directions)


def _initial_lambdas(penalties: list[Penalty], prob: _Problem) -> np.ndarray:
    lams = []
    for pen in penalties:
        if pen.lam is not None:
            lams.append(pen.lam)
        else:
            cols = slice(pen.columns.start - prob.n_groups, pen.columns.stop - prob.n_groups)
            size = float(np.mean(prob.X[:, cols] ** 2)) * len(prob.X)
            lams.append(1e-3 * size / max(np.trace(pen.matrix) / len(pen.matrix), 1e-12))
    return np.clip(np.asarray(lams, dtype=np.float64), *LAMBDA_BOUNDS)


def _fit_outer(
    prob: _Problem,
    penalties: list[Penalty],
    init: np.ndarray | None,
    tol: float,
    max_iter: int,
    max_outer: int,
    outer_tol: float,
) -> GLMFit:
    p = prob.n_coef
    lambdas = _initial_lambdas(penalties, prob)
    adaptive = any(pen.lam is None for pen in penalties)
    S = _penalty_matrix(penalties, lambdas, p)
    inner = _irls(prob, S, init, tol, max_iter)
    n_iter, converged = inner.n_iter, inner.converged
    for _ in range(max_outer if adaptive else 0):
        edf, _ = _edf(penalties, inner, S)
        new = _update_lambdas(penalties, lambdas, inner, _scale(prob, inner.mu, edf), S)
        change = np.max(np.abs(np.log(new) - np.log(lambdas)))
        lambdas, S = new, _penalty_matrix(penalties, new, p)
        inner = _irls(prob, S, inner.coef, tol, max_iter)
        n_iter += inner.n_iter
        if change < outer_tol:
            break
    else:
        converged = converged and not adaptive
    return _result(prob, penalties, lambdas, inner, S, n_iter, converged and inner.converged)


def _result(prob, penalties, lambdas, inner, S, n_iter, converged) -> GLMFit:
    edf, edf_blocks = _edf(penalties, inner, S)
    scale = _scale(prob, inner.mu, edf)
    covariance = scale * np.linalg.pinv(inner.gram + 2 * S)
    deviance = float(np.sum(prob.weights * _unit_deviance(prob.family, prob.y, inner.mu)))
    return GLMFit(
        coef=inner.coef,
        covariance=covariance,
        scale=scale,
        deviance=deviance,
        log_likelihood=log_likelihood(prob.family, prob.y, inner.mu, prob.weights, scale),
        lambdas={pen.name: float(lam) for pen, lam in zip(penalties, lambdas)},
        edf=edf_blocks,
        n_iter=n_iter,
        converged=converged,
        diverging=np.zeros((prob.n_coef, 0)),
    )


__all__ = ["CANONICAL", "GLMFit", "LINKS", "Link", "Penalty", "fit_glm", "log_likelihood"]
