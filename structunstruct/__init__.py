"""structunstruct: survival and regression on structured plus unstructured data.

Estimators take a pandas DataFrame with tabular, image (and text) columns and combine
an interpretable structured part with deep encoders.
"""

from . import datasets, metrics, nn, plotting, tuning
from .estimators import DeepPAMM, DeepSurv, LateFusion, MultiSurv, SemiStructuredRegressor
from .persistence import load

__version__ = "0.1.0"

__all__ = [
    "DeepPAMM",
    "DeepSurv",
    "LateFusion",
    "MultiSurv",
    "SemiStructuredRegressor",
    "__version__",
    "datasets",
    "load",
    "metrics",
    "nn",
    "plotting",
    "tuning",
]
