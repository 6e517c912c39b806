"""Search spaces: ``trial -> parameters of the estimator``.

A search space is one of

- a dict ``{parameter: optuna distribution}`` (``FloatDistribution``,
  ``IntDistribution``, ``CategoricalDistribution``), sampled as is;
- a callable ``space(trial) -> dict of parameters``, for spaces that a flat dict
  cannot express (a network's depth and width become one ``hidden_layers`` tuple);
- ``None``: :class:`DefaultSearchSpace`, built from the estimator's own settings.

Every name must be a parameter of the estimator (``get_params()``); an unknown
name raises, listing the valid ones. The default space is the union of the
registered components (:func:`register_space_component`); each looks at the
estimator's parameters and proposes what applies to it:

========================  ============================================================
component                 parameters (when they apply)
========================  ============================================================
``training``              ``lr`` (1e-4 to 1e-2, log), ``weight_decay`` (1e-6 to 1e-2,
                          log), ``dropout`` (0 to 0.5), ``batch_size`` (32 to 256):
                          every model with a deep part
``tabular_network``       ``hidden_layers``: depth 1 to 3 of one width in 16 to 128
                          (trial parameters ``hidden_depth``, ``hidden_width``): a deep
                          tabular part
``fusion``                ``fusion_layer`` (concat or FiLM), ``fusion_layers`` (one
                          layer of 16 to 64), ``augment``: joint fusion with an image
``pamm``                  ``cuts`` (10, 20, 40 intervals), ``baseline`` (piecewise or
                          spline): ``DeepPAMM``
``distributional``        ``deep_strategy`` (joint, two-stage, post hoc): a regressor
                          with structured terms and a deep part
``weight_averaging``      ``ema_decay`` (0.99 to 0.999): estimators that expose it
========================  ============================================================
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from . import _imports

SpaceComponent = Callable[[Mapping[str, Any], Any], dict[str, Any]]
SearchSpace = Mapping[str, Any] | Callable[[Any], Mapping[str, Any]] | None


def has_deep_part(params: Mapping[str, Any]) -> bool:
    """Whether an estimator with these parameters trains a network."""
    tabular = params.get("tabular")
    return (tabular is None or len(tabular) > 0) or any(
        params.get(name) is not None for name in ("image", "text")
    )


def _training(params: Mapping[str, Any], trial: Any) -> dict[str, Any]:
    if "lr" not in params or not has_deep_part(params):
        return {}
    return {
        "lr": trial.suggest_float("lr", 1e-4, 1e-2, log=True),
        "weight_decay": trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True),
        "dropout": trial.suggest_float("dropout", 0.0, 0.5),
        "batch_size": trial.suggest_categorical("batch_size", [32, 64, 128, 256]),
    }


def _tabular_network(params: Mapping[str, Any], trial: Any) -> dict[str, Any]:
    tabular = params.get("tabular")
    if "hidden_layers" not in params or (tabular is not None and len(tabular) == 0):
        return {}
    depth = trial.suggest_int("hidden_depth", 1, 3)
    width = trial.suggest_categorical("hidden_width", [16, 32, 64, 128])
    return {"hidden_layers": [width] * depth}


def _fusion(params: Mapping[str, Any], trial: Any) -> dict[str, Any]:
    if params.get("image") is None or params.get("fusion") != "joint":
        return {}
    out: dict[str, Any] = {}
    tabular = params.get("tabular")
    has_other = tabular is None or len(tabular) > 0 or params.get("text") is not None
    one_image = isinstance(params["image"], str) or len(params["image"]) == 1  # FiLM modulates one image
    if "fusion_layer" in params and has_other and one_image:
        out["fusion_layer"] = trial.suggest_categorical("fusion_layer", ["concat", "film"])
    if "fusion_layers" in params:
        out["fusion_layers"] = [trial.suggest_categorical("fusion_width", [16, 32, 64])]
    if "augment" in params:
        out["augment"] = trial.suggest_categorical("augment", [True, False])
    return out


def _pamm(params: Mapping[str, Any], trial: Any) -> dict[str, Any]:
    if "cuts" not in params or "baseline" not in params:
        return {}
    return {
        "cuts": trial.suggest_categorical("cuts", [10, 20, 40]),
        "baseline": trial.suggest_categorical("baseline", ["piecewise", "spline"]),
    }


def _distributional(params: Mapping[str, Any], trial: Any) -> dict[str, Any]:
    if "deep_strategy" not in params or params.get("structured") is None:
        return {}
    if not has_deep_part(params):
        return {}
    choices = ["joint", "two_stage", "post_hoc"]
    return {"deep_strategy": trial.suggest_categorical("deep_strategy", choices)}


def _weight_averaging(params: Mapping[str, Any], trial: Any) -> dict[str, Any]:
    if "ema_decay" not in params:
        return {}
    return {"ema_decay": trial.suggest_float("ema_decay", 0.99, 0.999)}


_COMPONENTS: dict[str, SpaceComponent] = {
    "training": _training,
    "tabular_network": _tabular_network,
    "fusion": _fusion,
    "pamm": _pamm,
    "distributional": _distributional,
    "weight_averaging": _weight_averaging,
}


def register_space_component(name: str, component: SpaceComponent) -> None:
    """Add a component to the default search space.

    Parameters
    ----------
    name : str
        New component name.
    component : callable
        ``component(params, trial) -> dict`` where ``params`` is the estimator's
        ``get_params()``; it returns ``{}`` when it does not apply.

    Raises
    ------
    ValueError
        If ``name`` is taken or ``component`` is not callable.
    """
    if name in _COMPONENTS:
        raise ValueError(f"a search space component named {name!r} is already registered")
    if not callable(component):
        raise ValueError(f"component must be callable(params, trial); got {type(component).__name__}")
    _COMPONENTS[name] = component


def list_space_components() -> list[str]:
    """Names of the components of the default search space, in the order they run."""
    return list(_COMPONENTS)


class DefaultSearchSpace:
    """The default search space of an estimator (union of the registered components).

    Parameters
    ----------
    estimator : estimator
        Its ``get_params()`` decide which components apply.

    Raises
    ------
    ValueError
        When no component applies (e.g. a classical model with no deep part).
    """

    def __init__(self, estimator: Any) -> None:
        self.params = dict(estimator.get_params(deep=False))
        optuna = _imports.optuna()
        probe = optuna.trial.FixedTrial({})
        applicable = [name for name, comp in _COMPONENTS.items() if _applies(comp, self.params, probe)]
        if not applicable:
            raise ValueError(
                f"no default search space applies to {type(estimator).__name__} with these "
                "settings (a classical model without a deep part has nothing to tune); "
                "pass search_space="
            )
        self.components = applicable

    def __call__(self, trial: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.components:
            out.update(_COMPONENTS[name](self.params, trial))
        return out


def _applies(component: SpaceComponent, params: Mapping[str, Any], probe: Any) -> bool:
    """Whether ``component`` proposes anything (a FixedTrial without values raises then)."""
    try:
        return bool(component(params, probe))
    except ValueError:  # FixedTrial: "The value of the parameter ... is not found"
        return True


class DistributionSpace:
    """A dict of Optuna distributions as a ``trial -> params`` callable.

    Parameters
    ----------
    distributions : mapping of str to optuna distribution
    """

    def __init__(self, distributions: Mapping[str, Any]) -> None:
        optuna = _imports.optuna()
        for name, dist in distributions.items():
            if not isinstance(dist, optuna.distributions.BaseDistribution):
                raise TypeError(
                    f"search_space[{name!r}] must be an optuna distribution "
                    f"(FloatDistribution, IntDistribution, CategoricalDistribution); "
                    f"got {type(dist).__name__}"
                )
        self.distributions = dict(distributions)

    def __call__(self, trial: Any) -> dict[str, Any]:
        return {name: _suggest(trial, name, dist) for name, dist in self.distributions.items()}


def _suggest(trial: Any, name: str, dist: Any) -> Any:
    optuna = _imports.optuna()
    d = optuna.distributions
    if isinstance(dist, d.FloatDistribution):
        return trial.suggest_float(name, dist.low, dist.high, log=dist.log, step=dist.step)
    if isinstance(dist, d.IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, log=dist.log, step=dist.step)
    if isinstance(dist, d.CategoricalDistribution):
        return trial.suggest_categorical(name, list(dist.choices))
    raise TypeError(f"search_space[{name!r}]: unsupported distribution {type(dist).__name__}")


def resolve_search_space(search_space: SearchSpace, estimator: Any) -> Callable[[Any], Mapping]:
    """Turn ``search_space`` into a ``trial -> params`` callable, names checked.

    Parameters
    ----------
    search_space : dict of distributions, callable or None
    estimator : estimator

    Returns
    -------
    callable
        ``space(trial) -> dict`` of estimator parameters.

    Raises
    ------
    ValueError
        If a name in a dict space is not a parameter of ``estimator``.
    TypeError
        If ``search_space`` is none of the accepted forms.
    """
    if search_space is None:
        return DefaultSearchSpace(estimator)
    if isinstance(search_space, Mapping):
        check_parameter_names(estimator, search_space)
        return DistributionSpace(search_space)
    if callable(search_space):
        return search_space
    raise TypeError(
        "search_space must be None, a dict of optuna distributions or a callable "
        f"trial -> params; got {type(search_space).__name__}"
    )


def check_parameter_names(estimator: Any, names: Any) -> None:
    """Raise a ``ValueError`` listing the valid names when one is not a parameter.

    Parameters
    ----------
    estimator : estimator
    names : iterable of str
        Parameter names (``a__b`` for nested settings, as ``set_params``).
    """
    valid = estimator.get_params(deep=True)
    unknown = sorted(set(names) - set(valid))
    if unknown:
        raise ValueError(
            f"search space names {unknown} are not parameters of {type(estimator).__name__}; "
            f"valid names: {sorted(valid)}"
        )
