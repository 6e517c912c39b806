"""Classical models fitted to convergence by full-batch Newton-Raphson (numpy)."""

from ..heads.cox.fitter import CoxFit, breslow_cumulative_hazard, fit_cox

__all__ = ["CoxFit", "breslow_cumulative_hazard", "fit_cox"]
