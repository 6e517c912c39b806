"""The scikit-learn-facing estimators: thin facades over data, nn and training."""

from .deepsurv import DeepSurv
from .late import LateFusion
from .pamm import DeepPAMM
from .regression import SemiStructuredRegressor

__all__ = ["DeepPAMM", "DeepSurv", "LateFusion", "SemiStructuredRegressor"]
