"""Penalties shared by every head: the quadratic penalty block and lifelines' ridge convention."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def lifelines_ridge(penalizer: float, n: int) -> float:
    """The ridge weight on a design of ``ddof=0``-standardized columns that is lifelines' ``penalizer``.

    lifelines (``CoxPHFitter(penalizer=c, l1_ratio=0)``) subtracts
    ``n * c / 2 * sum_j b_j^2`` from the log partial likelihood, with ``b_j`` the
    coefficient of column ``j`` standardized by its sample standard deviation
    (``ddof=1``). On columns standardized with ``ddof=0`` the coefficient is
    ``b_j * sqrt((n - 1) / n)``, so the weight there is ``c * n^2 / (n - 1)``. The
    same convention serves the PAMM and distributional fits.

    Parameters
    ----------
    penalizer : float
    n : int
        Number of rows (subjects).

    Returns
    -------
    float
    """
    return float(penalizer * n * n / max(n - 1, 1))



@dataclass
class Penalty:
    """A quadratic penalty ``lam * b' S b`` on a block of coefficients (every head's).

    Attributes
    ----------
    name : str
    columns : slice
        Coefficients the penalty acts on (in the design of ``parameter``).
    matrix : ndarray of shape (k, k)
    lam : float or None
        Fixed weight; ``None`` = estimated (Fellner-Schall) unless ``df`` is given.
    df : float or None
        Target effective degrees of freedom (``lam`` recomputed from the working weights).
    parameter : int
        Index of the distribution parameter whose design holds the block (0: the
        location; the PAMM's Poisson model has only it).
    """

    name: str
    columns: slice
    matrix: np.ndarray
    lam: float | None = None
    df: float | None = None
    parameter: int = 0
    rank: int = field(init=False)

    def __post_init__(self) -> None:
        eig = np.linalg.eigvalsh(self.matrix)
        self.rank = int((eig > 1e-9 * max(eig.max(), 1e-300)).sum())

    @property
    def estimated(self) -> bool:
        """Whether the weight is estimated by the Fellner-Schall update."""
        return self.lam is None and self.df is None


__all__ = ["Penalty", "lifelines_ridge"]
