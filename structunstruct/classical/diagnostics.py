"""Identifiability checks shared by the classical fitters: rank and separation.

Two ways a maximum-likelihood fit can report nonsense with a clean exit:

- **a rank-deficient design**: a column is a linear combination of others (``dup =
  2 x``, dummies of every level next to an intercept, a linear term ``x`` next to the
  smooth ``s(x)``, whose penalty leaves the linear trend unpenalized); the likelihood
  is flat along ``v`` with ``X v = 0`` and the split of the effect is arbitrary. The
  problem is well posed exactly when ``X'X + S`` is positive definite (``S`` the
  penalties): :func:`check_identifiable` raises before fitting, naming the columns
  that carry the null vectors of that matrix.
- **separation / monotone likelihood**: the likelihood keeps increasing as a
  combination of coefficients goes to infinity (a binary covariate whose level-1 rows
  all fail before its level-0 rows, a level without events, a covariate that predicts
  a binary response perfectly). Newton steps then stay of size about 1 while the
  observed information along that direction decays like ``exp(-|beta|)``, until
  underflow makes the gradient exactly zero and the fit looks converged with a
  standard error near 0. :func:`diverging_directions` finds such directions as the
  generalized eigenvectors of (information at the fit, information at the start) whose
  eigenvalue has collapsed (lifelines warns on separation heuristics, statsmodels
  raises ``PerfectSeparationWarning`` for fitted probabilities of 0 or 1; R's
  ``coxph`` says "coefficient may be infinite"). The fitters then report
  ``converged=False``, warn naming the columns, and give the direction a huge variance
  (:data:`DIVERGING_VARIANCE`) instead of the inverse of an underflowed information.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Sequence

import numpy as np
from scipy import linalg
from sklearn.exceptions import ConvergenceWarning

#: Relative eigenvalue of ``X'X + S`` (columns scaled to unit mean square) below which
#: the design is taken as rank deficient: a correlation of ``1 - 1e-10`` and beyond.
RANK_TOLERANCE = 1e-10
#: Information along a direction at the fit, relative to that at the start, below
#: which the coefficients are taken to diverge. A finite optimum keeps this ratio at
#: the order of the fitted-risk spread (1e-2 for hazard ratios of 100 per unit);
#: monotone likelihoods reach 1e-12 and below after the ~30 Newton steps of size 1
#: that it takes to reach underflow.
SEPARATION_TOLERANCE = 1e-8
#: Variance given to a diverging direction (unit norm, standardized coefficients):
#: a standard error of 1e10, huge and finite (so that linear maps of the covariance
#: stay free of ``inf - inf``).
DIVERGING_VARIANCE = 1e20
# Components of a null or diverging direction below this share of its largest are
# numerical noise, not columns involved.
_INVOLVED = 1e-3
_SMOOTH_COLUMN = re.compile(r"^(.*\))\[\d+\]$")


def _term_names(names: Sequence[str]) -> list[str]:
    """Column names with the basis columns of a smooth, ``s(x)[3]``, named ``s(x)``."""
    out: list[str] = []
    for name in names:
        match = _SMOOTH_COLUMN.match(str(name))
        term = match.group(1) if match else str(name)
        if term not in out:
            out.append(term)
    return out


def check_identifiable(
    design: np.ndarray,
    names: Sequence[str],
    penalty: np.ndarray | None = None,
    intercept: bool = True,
    what: str = "structured",
) -> None:
    """Raise when the coefficients of ``design`` are not identifiable.

    Parameters
    ----------
    design : ndarray of shape (n, p)
    names : sequence of str, length p
    penalty : ndarray of shape (p, p), optional
        Sum of the quadratic penalties (any positive weights: only its null space
        matters). A penalty that is positive definite on a dependent direction makes
        the problem well posed (a ridge, a random effect).
    intercept : bool
        Whether the model also has an intercept or a baseline that spans the constant
        (Cox: the baseline hazard absorbs it), so a column that is constant plus a
        combination of others is dependent too.
    what : str
        Role named in the message.

    Raises
    ------
    ValueError
        Naming the columns that carry a null vector of ``X'X + S``.
    """
    design = np.asarray(design, dtype=np.float64)
    n, p = design.shape
    if p == 0:
        return
    gram = _gram(design, intercept)  # (Z'Z) / n of Z = [1, X] (or X), without copying X
    rms = np.sqrt(np.diag(gram))
    rms[rms == 0] = 1.0
    gram = gram / np.outer(rms, rms)
    if penalty is not None and np.any(penalty):
        full = np.zeros_like(gram)
        k = int(intercept)
        full[k:, k:] = penalty / np.outer(rms[k:], rms[k:])
        gram = gram + full / np.abs(linalg.eigvalsh(full)).max()
    eigenvalues, vectors = linalg.eigh(gram)
    null = eigenvalues < RANK_TOLERANCE * max(eigenvalues.max(), 1.0)
    if not null.any():
        return
    involved = np.zeros(len(gram), dtype=bool)
    for v in vectors[:, null].T:
        involved |= np.abs(v) > _INVOLVED * np.abs(v).max()
    with_constant = intercept and involved[0]
    named = _term_names([nm for nm, flag in zip(names, involved[int(intercept):]) if flag])
    raise ValueError(
        f"{what} columns {named} are linearly dependent{' (with the intercept)' if with_constant else ''}: "
        "one is a linear combination of the others, so their coefficients are not identifiable; "
        "drop one of them (or give a ridge penalizer > 0)"
    )


def block_penalty(n_columns: int, blocks: Sequence[tuple[slice, np.ndarray]]) -> np.ndarray | None:
    """The penalty matrices of ``blocks`` (columns, matrix) embedded in ``n_columns``."""
    if not blocks:
        return None
    out = np.zeros((n_columns, n_columns))
    for columns, matrix in blocks:
        out[columns, columns] += matrix
    return out


def _gram(design: np.ndarray, intercept: bool) -> np.ndarray:
    n = max(len(design), 1)
    xtx = design.T @ design / n
    if not intercept:
        return xtx
    means = design.sum(axis=0) / n
    out = np.empty((len(xtx) + 1, len(xtx) + 1))
    out[0, 0], out[0, 1:], out[1:, 0], out[1:, 1:] = 1.0, means, means, xtx
    return out


def diverging_directions(
    information: np.ndarray, reference: np.ndarray, tol: float = SEPARATION_TOLERANCE
) -> np.ndarray:
    """Directions along which the information has collapsed since the start.

    Parameters
    ----------
    information : ndarray of shape (p, p)
        Unpenalized observed (or Fisher) information at the fit.
    reference : ndarray of shape (p, p)
        The same at the starting values (coefficients 0 but the intercepts), where a
        full-rank design gives a positive definite matrix.
    tol : float

    Returns
    -------
    ndarray of shape (p, k)
        Unit-norm directions (columns), ``k = 0`` when none diverges.
    """
    p = len(reference)
    if p == 0:
        return np.zeros((0, 0))
    information = np.where(np.isfinite(information), information, 0.0)
    reference = (reference + reference.T) / 2
    jitter = 1e-12 * max(np.abs(np.diag(reference)).max(), 1e-300)
    try:
        ratios, vectors = linalg.eigh((information + information.T) / 2, reference + jitter * np.eye(p))
    except (linalg.LinAlgError, ValueError):
        return np.zeros((p, 0))
    out = vectors[:, ratios < tol]
    out = out / np.linalg.norm(out, axis=0, keepdims=True) if out.size else out
    out[np.abs(out) < _INVOLVED * np.abs(out).max(axis=0, initial=0.0)] = 0.0
    return out


#: How far (in units of a standardized coefficient) :func:`monotone_coordinates` moves
#: each coefficient further out: at a finite optimum the log likelihood then drops by
#: about ``50 * information``, i.e. by hundreds.
RAY_STEP = 10.0
#: Only coefficients at least this large (standardized) are tested by
#: :func:`monotone_coordinates`: a monotone ray is walked by Newton steps of size about
#: 1 until underflow, far beyond this, and a finite fit costs no extra evaluation.
RAY_MIN_ABS = 5.0


def monotone_coordinates(
    log_likelihood: Callable[[np.ndarray], float],
    coef: np.ndarray,
    candidates: Sequence[int] | None = None,
    step: float = RAY_STEP,
    min_abs: float = RAY_MIN_ABS,
) -> np.ndarray:
    """Coefficients along whose ray the log likelihood does not decrease.

    A monotone likelihood may also flatten slowly (a continuous covariate that orders
    the event times perfectly: the information decays like ``exp(-gap * |beta|)`` with a
    small gap), so the information test alone can miss it. Here each candidate
    coefficient is moved ``step`` further away from 0 (on the standardized scale);
    at a finite maximum the log likelihood drops, on a monotone ray it does not.

    Parameters
    ----------
    log_likelihood : callable
        Unpenalized log likelihood of the full coefficient vector.
    coef : ndarray of shape (p,)
        The fit.
    candidates : sequence of int, optional
        Coefficients to test (default all).
    step : float
    min_abs : float
        Coefficients smaller than this in absolute value are not tested.

    Returns
    -------
    ndarray of shape (p, k)
        Unit coordinate vectors of the monotone coefficients.
    """
    coef = np.asarray(coef, dtype=np.float64)
    out = []
    tested = [j for j in (range(len(coef)) if candidates is None else candidates) if abs(coef[j]) >= min_abs]
    if not tested:
        return np.zeros((len(coef), 0))
    with np.errstate(all="ignore"):
        base = log_likelihood(coef)
        for j in tested:
            if not np.isfinite(base):
                continue
            moved = coef.copy()
            moved[j] += step * np.sign(coef[j])
            value = log_likelihood(moved)
            if np.isfinite(value) and value >= base - 1e-9 * (1 + abs(base)):
                out.append(j)
    directions = np.zeros((len(coef), len(out)))
    directions[out, np.arange(len(out))] = 1.0
    return directions


def involved_columns(directions: np.ndarray, names: Sequence[str | None]) -> list[str]:
    """Names of the coefficients that move along any of ``directions`` (``None``: unnamed)."""
    if directions.size == 0:
        return []
    flags = np.any(directions != 0, axis=1)
    return _term_names([nm for nm, flag in zip(names, flags) if flag and nm is not None])


def inflate_covariance(covariance: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """``covariance`` plus :data:`DIVERGING_VARIANCE` along each diverging direction."""
    if directions.size == 0:
        return covariance
    return covariance + DIVERGING_VARIANCE * directions @ directions.T


def find_separation(
    information: np.ndarray,
    reference: np.ndarray,
    log_likelihood: Callable[[np.ndarray], float],
    coef: np.ndarray,
    candidates: Sequence[int] | None,
    names: Sequence[str | None],
    model: str,
) -> np.ndarray:
    """Diverging directions of a fit, with a warning naming the separating columns.

    Both tests run (:func:`diverging_directions`, :func:`monotone_coordinates`); the
    warning names the columns whose own ray is monotone when there are any (under
    complete separation every coefficient drifts, but moving the separating column
    alone is what keeps the likelihood rising), else the columns of the collapsed
    directions.

    Returns
    -------
    ndarray of shape (p, k)
        All diverging directions (``k = 0``: none, and no warning).
    """
    collapsed = diverging_directions(information, reference)
    rays = monotone_coordinates(log_likelihood, coef, candidates)
    directions = np.column_stack([collapsed, rays])
    if directions.shape[1]:
        named = involved_columns(rays, names) or involved_columns(collapsed, names)
        warn_separation(named or ["the intercepts"], model)
    return directions


def warn_separation(names: Sequence[str], model: str) -> None:
    """Warn that the coefficients of ``names`` diverge (monotone likelihood)."""
    warnings.warn(
        f"{model}: the likelihood increases without bound along the coefficients of {list(names)} "
        "(separation / monotone likelihood: e.g. a level without events, or a covariate that "
        "orders the outcome perfectly); their estimates are not finite, the fit is marked "
        "not converged and their standard errors are set huge. Drop or merge the column, "
        "or give a ridge penalizer > 0.",
        ConvergenceWarning,
        stacklevel=4,
    )


__all__ = [
    "DIVERGING_VARIANCE",
    "block_penalty",
    "RANK_TOLERANCE",
    "SEPARATION_TOLERANCE",
    "check_identifiable",
    "diverging_directions",
    "find_separation",
    "inflate_covariance",
    "involved_columns",
    "monotone_coordinates",
    "warn_separation",
]
