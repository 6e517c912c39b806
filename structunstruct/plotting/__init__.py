"""Plots of fitted models (matplotlib).

Every function takes a fitted estimator (and the data to draw), draws on the
``ax=`` it is given or on a new figure, and returns the Axes:

- :func:`plot_survival`: mean predicted survival against Kaplan–Meier, by group or
  by quantile of predicted risk.
- :func:`plot_calibration`: predicted against observed survival at a horizon in
  risk groups (with Kaplan–Meier intervals) and the smoothed curve with its ICI;
  :func:`plot_d_calibration`: the D-calibration histogram.
- :func:`plot_hazard_ratios`: forest plot of ``summary_``.
- :func:`plot_partial_effect`, :func:`plot_time_varying_effect`: smooth and
  time-varying effects with 95% bands (``DeepPAMM``, ``SemiStructuredRegressor``).
- :func:`plot_predicted_distribution`, :func:`plot_prediction_intervals`:
  predicted distributions of ``SemiStructuredRegressor``.
- :func:`plot_training_history`: training and validation loss per epoch.

Use ``matplotlib.use("Agg")`` (or ``MPLBACKEND=Agg``) where there is no display.
"""

from ._calibration import plot_calibration, plot_d_calibration
from ._effects import (
    effect_curve,
    plot_hazard_ratios,
    plot_partial_effect,
    plot_time_varying_effect,
)
from ._history import plot_training_history
from ._regression import plot_predicted_distribution, plot_prediction_intervals, predicted_density
from ._survival import plot_survival, risk_groups

__all__ = [
    "effect_curve",
    "plot_calibration",
    "plot_d_calibration",
    "plot_hazard_ratios",
    "plot_partial_effect",
    "plot_predicted_distribution",
    "plot_prediction_intervals",
    "plot_survival",
    "plot_time_varying_effect",
    "plot_training_history",
    "predicted_density",
    "risk_groups",
]
