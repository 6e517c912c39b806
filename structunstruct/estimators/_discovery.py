"""Find every public estimator of the package by walking its modules.

As :func:`sklearn.utils.all_estimators` and scikit-survival's
``all_survival_estimators`` do: every module of :mod:`structunstruct` is imported and
the classes it defines are kept when they are scikit-learn estimators (subclasses of
:class:`~sklearn.base.BaseEstimator` with ``fit`` and ``predict``), have a public name
and are not abstract. Bases without predictions (``SemiStructuredEstimator``) are left
out. The common tests (``tests/estimators/test_common.py``) run over this list, so a new
estimator is tested as soon as it exists.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterable

from sklearn.base import BaseEstimator, RegressorMixin

from .survival import SurvivalMixin

#: ``type_filter`` name -> the base class an estimator of that type derives from.
ESTIMATOR_TYPES: dict[str, type] = {"survival": SurvivalMixin, "regressor": RegressorMixin}

#: Modules never imported by the walk: ``__main__`` runs the command line on import.
_SKIPPED_MODULES = ("__main__",)


def _package_modules() -> Iterable[str]:
    """Names of every module of the package (private ones included, as scikit-learn does)."""
    import structunstruct

    yield structunstruct.__name__
    for info in pkgutil.walk_packages(structunstruct.__path__, prefix=f"{structunstruct.__name__}."):
        if info.name.rsplit(".", 1)[-1] not in _SKIPPED_MODULES:
            yield info.name


def _is_public_estimator(cls: type, module: str) -> bool:
    return (
        cls.__module__ == module
        and not cls.__name__.startswith("_")
        and issubclass(cls, BaseEstimator)
        and not inspect.isabstract(cls)
        and callable(getattr(cls, "fit", None))
        and callable(getattr(cls, "predict", None))
    )


def _check_type_filter(type_filter: str | Iterable[str] | None) -> list[type]:
    if type_filter is None:
        return []
    names = [type_filter] if isinstance(type_filter, str) else list(type_filter)
    unknown = [name for name in names if name not in ESTIMATOR_TYPES]
    if unknown:
        raise ValueError(f"unknown type_filter {unknown}; known: {sorted(ESTIMATOR_TYPES)}")
    return [ESTIMATOR_TYPES[name] for name in names]


def all_estimators(type_filter: str | Iterable[str] | None = None) -> list[tuple[str, type]]:
    """Every public estimator class of :mod:`structunstruct`, found by walking the package.

    Parameters
    ----------
    type_filter : {"survival", "regressor"} or list of them, optional
        Keep only estimators of these types (survival estimators derive from
        :class:`~structunstruct.estimators.survival.SurvivalMixin`, regressors from
        :class:`sklearn.base.RegressorMixin`); a list keeps the union. Default: all,
        meta-estimators (``TunedEstimator``) included.

    Returns
    -------
    list of (str, type)
        ``(class name, class)`` pairs sorted by name, each class once.

    Raises
    ------
    ValueError
        When ``type_filter`` names an unknown type (the message lists the known ones).

    Examples
    --------
    >>> from structunstruct.estimators import all_estimators
    >>> [name for name, _ in all_estimators(type_filter="regressor")]
    ['SemiStructuredRegressor']
    """
    bases = _check_type_filter(type_filter)
    found: dict[type, str] = {}
    for module_name in _package_modules():
        module = importlib.import_module(module_name)
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if name == cls.__name__ and _is_public_estimator(cls, module_name):
                found[cls] = name
    if bases:
        found = {cls: name for cls, name in found.items() if issubclass(cls, tuple(bases))}
    return sorted(((name, cls) for cls, name in found.items()), key=lambda pair: pair[0])


__all__ = ["ESTIMATOR_TYPES", "all_estimators"]
