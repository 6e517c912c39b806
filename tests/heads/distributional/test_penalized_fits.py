"""Penalized fits solve the problem they state: checked by its optimality conditions.

For a fitted penalized model the gradient of the stated objective (negative
log-likelihood plus the documented quadratic penalty, at the returned smoothing
weights) vanishes at the returned coefficients; the effective degrees of freedom are
the trace of the penalized influence matrix; the log-likelihood is scipy's. The
gradients and traces are written here from the textbook formulas, on a design and a
second-difference penalty built in the test (not the package's splines).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from structunstruct.classical.penalty import Penalty
from structunstruct.heads.distributional.families import get_family
from structunstruct.heads.distributional.fitter import fit_distributional
from structunstruct.heads.pamm.glm import fit_glm


def _basis(x: np.ndarray, k: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian bumps on [0, 1] and their second-difference penalty D'D."""
    centres = np.linspace(0, 1, k)
    basis = np.exp(-0.5 * ((x[:, None] - centres[None, :]) / 0.12) ** 2)
    difference = np.diff(np.eye(k), n=2, axis=0)
    return basis - basis.mean(axis=0), difference.T @ difference


@pytest.fixture(scope="module")
def poisson_data():
    rng = np.random.default_rng(3)
    n = 400
    x = rng.uniform(0, 1, n)
    z = rng.normal(size=n)
    exposure = rng.uniform(0.5, 2.0, n)
    y = rng.poisson(exposure * np.exp(0.3 + 0.5 * z + np.sin(2 * np.pi * x)))
    basis, S = _basis(x)
    X = np.column_stack([np.ones(n), z, basis])
    return X, y.astype(float), np.log(exposure), S


def test_penalized_poisson_glm_is_stationary_and_reports_its_edf(poisson_data):
    X, y, offset, S = poisson_data
    block = slice(2, X.shape[1])
    fit = fit_glm(X, y, "poisson", offset=offset, penalties=[Penalty("s", block, S)])
    lam = fit.lambdas["s"]
    assert 1e-6 < lam < 1e6
    b = fit.coef
    mu = np.exp(X @ b + offset)
    penalty = np.zeros((X.shape[1], X.shape[1]))
    penalty[block, block] = lam * S
    # objective: deviance + lam b' S b (mgcv), i.e. -loglik + lam b' S b / 2
    gradient = -X.T @ (y - mu) + penalty @ b
    assert np.abs(gradient).max() < 1e-6 * np.abs(X.T @ y).max()
    gram = X.T @ (mu[:, None] * X)
    influence = np.linalg.solve(gram + penalty, gram)
    assert fit.edf["s"] == pytest.approx(np.trace(influence[block, block]), rel=1e-6)
    assert 2 < fit.edf["s"] < X.shape[1] - 2  # smoothed, not interpolated nor linear
    assert fit.log_likelihood == pytest.approx(stats.poisson.logpmf(y, mu).sum(), rel=1e-10)


def test_penalized_poisson_glm_with_a_fixed_weight(poisson_data):
    X, y, offset, S = poisson_data
    block = slice(2, X.shape[1])
    fit = fit_glm(X, y, "poisson", offset=offset, penalties=[Penalty("s", block, S, lam=5.0)])
    mu = np.exp(X @ fit.coef + offset)
    gradient = -X.T @ (y - mu)
    gradient[block] += 5.0 * S @ fit.coef[block]
    assert np.abs(gradient).max() < 1e-6 * np.abs(X.T @ y).max()


def test_penalized_normal_location_scale_fit_is_stationary():
    rng = np.random.default_rng(4)
    n = 400
    x = rng.uniform(0, 1, n)
    z = rng.normal(size=n)
    y = 1 + 0.8 * z + np.sin(2 * np.pi * x) + np.exp(-0.5 + 0.3 * z) * rng.normal(size=n)
    basis, S = _basis(x)
    X_loc = np.column_stack([np.ones(n), z, basis])
    X_scale = np.column_stack([np.ones(n), z])
    smooth = Penalty("s(x)", slice(2, X_loc.shape[1]), S, df=5.0)
    fit = fit_distributional(get_family("normal"), y, [X_loc, X_scale], smooths=[smooth])
    lam = fit.smoothing[0]
    loc, log_sd = X_loc @ fit.coef[0], X_scale @ fit.coef[1]
    sd = np.exp(log_sd)
    # objective: -sum log N(y; loc, sd) + 0.5 lam b' S b on the smooth's coefficients
    grad_loc = -X_loc.T @ ((y - loc) / sd**2)
    grad_loc[2:] += lam * S @ fit.coef[0][2:]
    grad_scale = -X_scale.T @ ((y - loc) ** 2 / sd**2 - 1)
    assert np.abs(np.concatenate([grad_loc, grad_scale])).max() < 1e-5 * n
    assert fit.log_likelihood == pytest.approx(stats.norm(loc, sd).logpdf(y).sum(), rel=1e-10)
    assert fit.coef[1][1] == pytest.approx(0.3, abs=0.12)
