"""The scikit-learn-facing estimators: thin facades over data, nn and training."""

from .deepsurv import DeepSurv
from .pamm import DeepPAMM
from .regression import SemiStructuredRegressor

__all__ = ["DeepPAMM", "DeepSurv", "SemiStructuredRegressor"]
