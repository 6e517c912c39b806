"""The scikit-learn-facing estimators: thin facades over data, nn and training.

:func:`all_estimators` lists every public estimator of the package (found by walking
its modules), optionally only the survival estimators or the regressors.
:func:`list_pretrainings` and :func:`register_pretraining` are the registry of the
``pretraining`` settings (a function of a :class:`PretrainingTask`).
"""

from ._discovery import all_estimators
from ._pretraining import PretrainingTask, list_pretrainings, register_pretraining
from .deepsurv import DeepSurv
from .late import LateFusion
from .multisurv import MultiSurv
from .pamm import DeepPAMM
from .regression import SemiStructuredRegressor

__all__ = [
    "DeepPAMM",
    "DeepSurv",
    "LateFusion",
    "MultiSurv",
    "PretrainingTask",
    "SemiStructuredRegressor",
    "all_estimators",
    "list_pretrainings",
    "register_pretraining",
]
