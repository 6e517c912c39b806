"""Registry of the real datasets: ``list_datasets`` and ``load_dataset``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from ._sksurv import load_aids, load_flchain, load_gbsg2, load_veterans, load_whas500
from ._vendored import load_metabric, load_rossi, load_support

Loader = Callable[..., tuple[pd.DataFrame, np.ndarray]]

_DATASETS: dict[str, Loader] = {
    "aids": load_aids,
    "flchain": load_flchain,
    "gbsg2": load_gbsg2,
    "metabric": load_metabric,
    "rossi": load_rossi,
    "support": load_support,
    "veterans": load_veterans,
    "whas500": load_whas500,
}


def list_datasets() -> dict[str, str]:
    """Names of the real datasets that :func:`load_dataset` knows.

    Returns
    -------
    dict of str to str
        Dataset name -> one-line description (the first line of its loader's
        docstring), sorted by name. A new dict on every call.
    """
    return {name: _first_line(loader) for name, loader in sorted(_DATASETS.items())}


def load_dataset(name: str, **kwargs: Any) -> tuple[pd.DataFrame, np.ndarray]:
    """Load a real survival dataset by name.

    Parameters
    ----------
    name : str
        One of the keys of :func:`list_datasets`, e.g. ``"gbsg2"``.
    **kwargs
        Passed to the loader, e.g. ``endpoint="death"`` for ``"aids"``.

    Returns
    -------
    X : pandas.DataFrame of shape (n_samples, n_features)
        Covariates: float64 and ``category`` columns, no missing values.
    y : numpy.ndarray of shape (n_samples,)
        Structured array with fields ``event`` (bool) and ``time`` (float64).

    Raises
    ------
    ValueError
        If ``name`` is not a known dataset; the message lists the known ones.
    """
    try:
        loader = _DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {sorted(_DATASETS)}") from None
    return loader(**kwargs)


def _first_line(loader: Loader) -> str:
    doc = loader.__doc__ or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""
