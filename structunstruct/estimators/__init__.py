"""The scikit-learn-facing estimators: thin facades over data, nn and training."""

from .deepsurv import DeepSurv

__all__ = ["DeepSurv"]
