"""The ridge convention shared by every head (lifelines' ``penalizer``)."""

from __future__ import annotations


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


__all__ = ["lifelines_ridge"]
