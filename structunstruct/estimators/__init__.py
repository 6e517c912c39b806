"""The scikit-learn-facing estimators: thin facades over data, nn and training.

:func:`all_estimators` lists every public estimator of the package (found by walking
its modules), optionally only the survival estimators or the regressors.
"""

from ._discovery import all_estimators
from .deepsurv import DeepSurv
from .late import LateFusion
from .multisurv import MultiSurv
from .pamm import DeepPAMM
from .regression import SemiStructuredRegressor

__all__ = ["DeepPAMM", "DeepSurv", "LateFusion", "MultiSurv", "SemiStructuredRegressor", "all_estimators"]
