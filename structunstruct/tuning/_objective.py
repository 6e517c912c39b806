"""The objective of a tuning study: cross-validate one set of parameters.

:class:`CrossValidationObjective` is called by Optuna once per trial. It samples the
estimator's parameters from the search space, fits a clone on each training fold
(with a :class:`~structunstruct.tuning.PruningCallback` when pruning is on),
scores the held-out fold with every scorer and records, as user attributes of the
trial, the estimator parameters (``params``), the per-fold scores
(``split{k}_{scorer}``), their mean and sample standard deviation
(``mean_{scorer}``, ``std_{scorer}``) and the epochs trained per fold (``epochs``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.utils import _safe_indexing

from . import _imports
from ._pruning import PruningCallback
from ._spaces import check_parameter_names

Scorer = Callable[[Any, Any, Any], float]


@dataclass
class CrossValidationObjective:
    """Mean cross-validated score(s) of the parameters a trial samples.

    Attributes
    ----------
    estimator : estimator
        The unfitted template (cloned for every fold).
    space : callable
        ``space(trial) -> dict`` of estimator parameters.
    X, y
        Data; ``y`` already converted to the estimator's target form.
    splits : list of (ndarray, ndarray)
        Training and test row indices of each fold (the same for every trial).
    scorers : dict of str to callable
        ``scorer(estimator, X, y) -> float``, higher is better; several make a
        multi-objective study (in this order).
    prune : bool
        Attach a pruning callback (single-objective studies of estimators with
        ``callbacks`` and ``max_epochs``).
    """

    estimator: Any
    space: Callable[[Any], Mapping[str, Any]]
    X: Any
    y: Any
    splits: Sequence[tuple[np.ndarray, np.ndarray]]
    scorers: dict[str, Scorer]
    prune: bool = True
    _checked: bool = field(default=False, repr=False)

    def __call__(self, trial: Any) -> float | list[float]:
        params = dict(self.space(trial))
        if not self._checked:
            check_parameter_names(self.estimator, params)
            self._checked = True
        trial.set_user_attr("params", jsonable_params(params))
        scores: dict[str, list[float]] = {name: [] for name in self.scorers}
        epochs: list[int] = []
        try:
            for fold, (train, test) in enumerate(self.splits):
                model = self._fit_fold(trial, params, fold, train, epochs)
                for name, scorer in self.scorers.items():
                    value = float(scorer(model, _rows(self.X, test), _rows(self.y, test)))
                    scores[name].append(value)
                    trial.set_user_attr(f"split{fold}_{name}", value)
        finally:
            trial.set_user_attr("epochs", epochs)
        means = []
        for name, values in scores.items():
            mean, sd = mean_sd(values)
            trial.set_user_attr(f"mean_{name}", mean)
            trial.set_user_attr(f"std_{name}", sd)
            means.append(mean)
        return means[0] if len(means) == 1 else means

    def _fit_fold(self, trial: Any, params: dict, fold: int, train: np.ndarray, epochs: list) -> Any:
        optuna = _imports.optuna()
        model = clone(self.estimator).set_params(**params)
        callback = None
        if self.prune:
            callback = PruningCallback(trial, fold, int(model.max_epochs), maximize=True)
            model.set_params(callbacks=[*(model.callbacks or []), callback])
        try:
            model.fit(_rows(self.X, train), _rows(self.y, train))
        except optuna.TrialPruned:
            epochs.append(callback.epochs_)
            raise
        except FloatingPointError as error:  # the training loss diverged: a clearly bad trial
            epochs.append(callback.epochs_ if callback is not None else -1)
            trial.set_user_attr("diverged", f"fold {fold}: {error}")
            raise optuna.TrialPruned(f"training diverged in fold {fold}: {error}") from error
        epochs.append(len(getattr(model, "history_", []) or []))
        if callback is not None:
            model.set_params(callbacks=list(self.estimator.get_params()["callbacks"] or []))
        return model


def _rows(data: Any, index: np.ndarray) -> Any:
    return _safe_indexing(data, index)


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (``ddof=1``; NaN for one value)."""
    arr = np.asarray(values, dtype=float)
    sd = float(arr.std(ddof=1)) if arr.size > 1 else float("nan")
    return float(arr.mean()), sd


def jsonable_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters as JSON values (tuples as lists, numpy scalars as Python numbers).

    Raises
    ------
    TypeError
        When a value cannot be stored in a study (e.g. a torch module); the message
        names the parameter.
    """
    out = {}
    for name, value in params.items():
        value = _plain(value)
        try:
            json.dumps(value)
        except TypeError:
            raise TypeError(
                f"search space value of {name!r} ({type(value).__name__}) cannot be stored in "
                "an Optuna study; use names, numbers, booleans or lists of them"
            ) from None
        out[name] = value
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
