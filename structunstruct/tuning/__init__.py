"""Hyperparameter tuning with Optuna: one call, cross-validated, pruned, resumable.

- :func:`tune` runs a study: every trial cross-validates one parameter set, the
  per-epoch validation loss prunes bad trials early, the best parameters are
  refitted on all rows; the result holds the study and a table of all trials.
- :class:`TunedEstimator` is the same search as a scikit-learn estimator, so
  ``cross_val_score(TunedEstimator(model), X, y)`` is a nested cross-validation.
- Search spaces (:class:`DefaultSearchSpace`, components registered with
  :func:`register_space_component`), the :class:`PruningCallback`, and
  :func:`make_storage` for SQLite/PostgreSQL studies shared by many workers
  (``structunstruct tune CONFIG``).

Optuna is the optional extra ``structunstruct[tune]``; it is imported when a
function here first needs it.
"""

from ._pruning import PruningCallback
from ._search_cv import TunedEstimator
from ._spaces import DefaultSearchSpace, list_space_components, register_space_component
from ._tune import Score, TuningResult, make_storage, trials_frame, tune

__all__ = [
    "DefaultSearchSpace",
    "PruningCallback",
    "Score",
    "TunedEstimator",
    "TuningResult",
    "list_space_components",
    "make_storage",
    "register_space_component",
    "trials_frame",
    "tune",
]
