"""Survival metrics with one signature, and scikit-learn scorers.

Every metric is a plain function ``metric(y_true, y_pred, *, y_train=None,
times=None)`` built on scikit-survival:

- ``y_true`` (and ``y_train``) is a survival target in any accepted form: a
  structured array (event, time), a DataFrame with a time and an event column, or
  a tuple ``(time, event)``.
- ``y_pred`` is a risk score (higher = earlier event) for the concordance indices
  and the AUC, and predicted survival for the Brier scores.
- ``y_train`` is the data the censoring distribution is estimated on (IPCW
  metrics); it defaults to ``y_true``. Metrics that do not use it ignore it.
- ``times`` are the evaluation times of the time-dependent metrics; the default is
  :func:`default_time_grid` of ``y_true``; calibration at a horizon
  (:func:`integrated_calibration_index`) takes one time ``t``, and D-calibration,
  which evaluates each sample at its own time, takes none.

For regression, :func:`crps` scores predictive distributions (from quantiles), and
the scorers ``"log_likelihood"`` and ``"neg_crps"`` tune distributional regressors.
"""

from ._auc import cumulative_dynamic_auc, time_dependent_auc
from ._brier import brier_score, integrated_brier_score
from ._calibration import (
    DCalibrationResult,
    SmoothedCalibration,
    calibration_curve,
    d_calibration,
    integrated_calibration_index,
    smoothed_calibration,
)
from ._concordance import concordance_index_harrell, concordance_index_uno
from ._regression import crps, crps_from_quantiles
from ._scorers import (
    auc_scorer,
    crps_scorer,
    get_scorer,
    harrell_c_scorer,
    ibs_scorer,
    list_scorers,
    log_likelihood_scorer,
    register_scorer,
    uno_c_scorer,
)
from ._times import default_time_grid

__all__ = [
    "DCalibrationResult",
    "SmoothedCalibration",
    "auc_scorer",
    "brier_score",
    "calibration_curve",
    "concordance_index_harrell",
    "concordance_index_uno",
    "crps",
    "crps_from_quantiles",
    "crps_scorer",
    "cumulative_dynamic_auc",
    "d_calibration",
    "default_time_grid",
    "get_scorer",
    "harrell_c_scorer",
    "ibs_scorer",
    "integrated_brier_score",
    "integrated_calibration_index",
    "list_scorers",
    "log_likelihood_scorer",
    "register_scorer",
    "smoothed_calibration",
    "time_dependent_auc",
    "uno_c_scorer",
]
