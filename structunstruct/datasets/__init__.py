"""Survival datasets: real data returned as ``(X, y)`` and multimodal generators.

Real data (``X`` a DataFrame of float64 and ``category`` columns without missing
values, ``y`` a structured array with fields ``event`` and ``time``):
:func:`load_aids`, :func:`load_flchain`, :func:`load_gbsg2`, :func:`load_metabric`,
:func:`load_rossi`, :func:`load_support`, :func:`load_veterans`,
:func:`load_whas500`; by name with :func:`load_dataset` and :func:`list_datasets`.

Semi-synthetic data with MNIST images in an ``"image"`` column and a known truth:
:func:`make_survival_images` and :func:`make_regression_images` (``n_images=2``:
two image columns ``image_a``, ``image_b``, as in Law et al. 2019); with two image
columns (``"image_a"``, ``"image_b"``), a text column (``"note"``) and tabular
columns, each modality carrying a known part of the risk:
:func:`make_survival_multimodal`.
"""

from ._registry import list_datasets, load_dataset
from ._regression_images import make_regression_images
from ._sksurv import load_aids, load_flchain, load_gbsg2, load_veterans, load_whas500
from ._survival_images import make_survival_images
from ._survival_multimodal import make_survival_multimodal
from ._vendored import load_metabric, load_rossi, load_support

__all__ = [
    "list_datasets",
    "load_aids",
    "load_dataset",
    "load_flchain",
    "load_gbsg2",
    "load_metabric",
    "load_rossi",
    "load_support",
    "load_veterans",
    "load_whas500",
    "make_regression_images",
    "make_survival_images",
    "make_survival_multimodal",
]
