"""P-splines: B-spline bases with difference penalties (Eilers & Marx 1996).

Used for ``s(col)`` smooth terms and smooth functions of time. A basis is learned on
training values (equally spaced knots over their range), evaluated on new values
(linearly extrapolated outside the range), and optionally centred (sum-to-zero over
the training data) so that a smooth is identifiable next to an intercept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.interpolate import BSpline


def difference_penalty(n_basis: int, order: int = 2) -> np.ndarray:
    """``D' D`` for the ``order``-th difference matrix D, shape (n_basis, n_basis)."""
    D = np.diff(np.eye(n_basis), n=order, axis=0)
    return D.T @ D


@dataclass
class PSplineBasis:
    """A cubic B-spline basis with a difference penalty.

    Parameters
    ----------
    n_basis : int
        Number of B-spline functions (before centring).
    degree : int
        Spline degree (3 = cubic).
    penalty_order : int
        Order of the difference penalty (2 penalizes departures from a line).
    center : bool
        Absorb a sum-to-zero constraint over the training data (one column fewer).

    Attributes
    ----------
    knots_ : ndarray
        Full knot vector.
    constraint_ : ndarray of shape (n_basis, n_basis - 1) or None
        Null-space basis of the centring constraint.
    penalty_ : ndarray
        Penalty matrix in the (centred) coefficient space.
    """

    n_basis: int = 10
    degree: int = 3
    penalty_order: int = 2
    center: bool = True
    knots_: np.ndarray | None = field(default=None, init=False)
    lower_: float = field(default=0.0, init=False)
    upper_: float = field(default=1.0, init=False)
    constraint_: np.ndarray | None = field(default=None, init=False)
    penalty_: np.ndarray | None = field(default=None, init=False)

    @property
    def n_columns(self) -> int:
        """Columns of the (centred) basis."""
        return self.n_basis - 1 if self.center else self.n_basis

    def fit(self, x: np.ndarray) -> PSplineBasis:
        """Place knots over the range of ``x`` and set up constraint and penalty."""
        x = np.asarray(x, dtype=np.float64)
        self.lower_, self.upper_ = float(x.min()), float(x.max())
        if self.upper_ <= self.lower_:
            raise ValueError("a smooth term needs at least two distinct values")
        n_inner = self.n_basis - self.degree + 1
        inner = np.linspace(self.lower_, self.upper_, n_inner)
        step = inner[1] - inner[0]
        before = self.lower_ - step * np.arange(self.degree, 0, -1)
        after = self.upper_ + step * np.arange(1, self.degree + 1)
        self.knots_ = np.concatenate([before, inner, after])
        penalty = difference_penalty(self.n_basis, self.penalty_order)
        if self.center:
            raw = self._raw(x)
            self.constraint_ = _null_space(raw.mean(axis=0)[None, :])
            penalty = self.constraint_.T @ penalty @ self.constraint_
        self.penalty_ = penalty
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Basis matrix of shape (n, n_columns)."""
        raw = self._raw(np.asarray(x, dtype=np.float64))
        return raw @ self.constraint_ if self.center else raw

    def _raw(self, x: np.ndarray) -> np.ndarray:
        inside = np.clip(x, self.lower_, self.upper_)
        basis = BSpline.design_matrix(inside, self.knots_, self.degree, extrapolate=False)
        basis = basis.toarray()
        outside = (x < self.lower_) | (x > self.upper_)
        if outside.any():
            basis[outside] = self._extrapolate(x[outside])
        return basis

    def _extrapolate(self, x: np.ndarray) -> np.ndarray:
        """Linear extrapolation from the nearest boundary (value + slope)."""
        edge = np.where(x < self.lower_, self.lower_, self.upper_)
        h = 1e-6 * (self.upper_ - self.lower_)
        inward = np.where(x < self.lower_, h, -h)
        at_edge = BSpline.design_matrix(edge, self.knots_, self.degree).toarray()
        near = BSpline.design_matrix(edge + inward, self.knots_, self.degree).toarray()
        slope = (near - at_edge) / inward[:, None]
        return at_edge + slope * (x - edge)[:, None]


def _null_space(constraint: np.ndarray) -> np.ndarray:
    """Orthonormal basis of ``{b : constraint @ b = 0}``."""
    q, _ = np.linalg.qr(constraint.T, mode="complete")
    return q[:, constraint.shape[0]:]


def smoothing_parameter_for_df(
    gram: np.ndarray, penalty: np.ndarray, df: float, tol: float = 1e-6
) -> float:
    """The penalty weight ``lam`` with ``trace((G + lam S)^-1 G) = df``.

    Parameters
    ----------
    gram : ndarray of shape (k, k)
        ``B' W B`` of the smooth's basis (W: working weights of the model).
    penalty : ndarray of shape (k, k)
    df : float
        Target effective degrees of freedom, between the penalty's null-space dimension
        and k.

    Returns
    -------
    float
    """
    k = gram.shape[0]
    if not 0 < df <= k:
        raise ValueError(f"df must lie in (0, {k}] for a basis of {k} columns; got {df}")

    def edf(log_lam: float) -> float:
        system = gram + np.exp(log_lam) * penalty
        try:
            return float(np.trace(np.linalg.solve(system, gram)))
        except np.linalg.LinAlgError:  # gram singular on the penalty's null space
            return float(np.trace(np.linalg.lstsq(system, gram, rcond=None)[0]))

    lo, hi = -30.0, 30.0
    if edf(hi) > df:
        return float(np.exp(hi))
    for _ in range(200):
        mid = (lo + hi) / 2
        if edf(mid) > df:
            lo = mid
        else:
            hi = mid
        if hi - lo < tol:
            break
    return float(np.exp((lo + hi) / 2))
