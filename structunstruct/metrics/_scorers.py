"""scikit-learn scorers ``scorer(estimator, X, y) -> float`` (higher is better).

Each scorer is a plain function, so it can be passed as ``scoring=`` to
:func:`sklearn.model_selection.cross_val_score` or
:class:`~sklearn.model_selection.GridSearchCV`. Inside cross-validation a scorer
only sees the held-out fold, so the IPCW metrics estimate the censoring
distribution on that fold (``y_train`` defaults to ``y_true``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._auc import cumulative_dynamic_auc
from ._brier import integrated_brier_score
from ._concordance import concordance_index_harrell, concordance_index_uno
from ._regression import crps

Scorer = Callable[[Any, Any, Any], float]


def harrell_c_scorer(estimator: Any, X: Any, y: Any) -> float:
    """Harrell's C of ``estimator.predict(X)`` (risk scores) against ``y``.

    Parameters
    ----------
    estimator : fitted estimator
        Has ``predict(X)`` returning risk scores of shape (n_samples,).
    X : array-like or DataFrame of shape (n_samples, n_features)
        Samples to score.
    y : structured array, DataFrame or tuple
        Observed survival of ``X``.

    Returns
    -------
    float
        Concordance index (higher is better).
    """
    return concordance_index_harrell(y, estimator.predict(X))


def uno_c_scorer(estimator: Any, X: Any, y: Any) -> float:
    """Uno's C of ``estimator.predict(X)``, censoring distribution estimated on ``y``.

    Parameters
    ----------
    estimator : fitted estimator
        Has ``predict(X)`` returning risk scores of shape (n_samples,).
    X : array-like or DataFrame of shape (n_samples, n_features)
        Samples to score.
    y : structured array, DataFrame or tuple
        Observed survival of ``X``.

    Returns
    -------
    float
        Concordance index (higher is better), truncated at the default ``tau``.
    """
    return concordance_index_uno(y, estimator.predict(X))


def auc_scorer(estimator: Any, X: Any, y: Any) -> float:
    """Mean cumulative/dynamic AUC of ``estimator.predict(X)`` on the default grid.

    Parameters
    ----------
    estimator : fitted estimator
        Has ``predict(X)`` returning risk scores of shape (n_samples,).
    X : array-like or DataFrame of shape (n_samples, n_features)
        Samples to score.
    y : structured array, DataFrame or tuple
        Observed survival of ``X``.

    Returns
    -------
    float
        Mean AUC over :func:`default_time_grid` of ``y`` (higher is better).
    """
    return cumulative_dynamic_auc(y, estimator.predict(X))


def ibs_scorer(estimator: Any, X: Any, y: Any) -> float:
    """Negative integrated Brier score of ``estimator.predict_survival_function(X)``.

    Parameters
    ----------
    estimator : fitted estimator
        Has ``predict_survival_function(X)`` returning a DataFrame (index = time,
        one column per sample; structunstruct estimators) or a sequence of
        StepFunctions (scikit-survival estimators).
    X : array-like or DataFrame of shape (n_samples, n_features)
        Samples to score.
    y : structured array, DataFrame or tuple
        Observed survival of ``X``.

    Returns
    -------
    float
        ``-integrated_brier_score`` over :func:`default_time_grid` of ``y``, so
        that higher is better.
    """
    return -integrated_brier_score(y, estimator.predict_survival_function(X))


def log_likelihood_scorer(estimator: Any, X: Any, y: Any) -> float:
    """Mean log-likelihood per row of ``y`` under the predicted distributions.

    Parameters
    ----------
    estimator : fitted regressor
        Has ``log_likelihood(X, y)`` returning the total log-likelihood
        (:class:`~structunstruct.SemiStructuredRegressor`).
    X : DataFrame or array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)

    Returns
    -------
    float
        ``log_likelihood(X, y) / n_samples`` (higher is better).
    """
    return float(estimator.log_likelihood(X, y)) / len(y)


def crps_scorer(estimator: Any, X: Any, y: Any) -> float:
    """Negative mean CRPS of the predicted distributions (from 199 quantiles).

    Parameters
    ----------
    estimator : fitted regressor
        Has ``predict_quantile(X, q)``.
    X : DataFrame or array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)

    Returns
    -------
    float
        ``-crps`` (:func:`structunstruct.metrics.crps`), so that higher is better.
    """
    return -crps(estimator, X, y)


_SCORERS: dict[str, Scorer] = {
    "harrell_c": harrell_c_scorer,
    "uno_c": uno_c_scorer,
    "auc": auc_scorer,
    "neg_ibs": ibs_scorer,
    "log_likelihood": log_likelihood_scorer,
    "neg_crps": crps_scorer,
}


def get_scorer(name: str) -> Scorer:
    """Return the scorer registered under ``name``.

    Parameters
    ----------
    name : str
        One of :func:`list_scorers`: survival ``"harrell_c"``, ``"uno_c"``,
        ``"auc"``, ``"neg_ibs"``; regression ``"log_likelihood"``, ``"neg_crps"``.

    Returns
    -------
    callable
        ``scorer(estimator, X, y) -> float``, higher is better.

    Raises
    ------
    ValueError
        If ``name`` is not registered; the message lists the known names.

    Examples
    --------
    >>> get_scorer("harrell_c").__name__
    'harrell_c_scorer'
    """
    try:
        return _SCORERS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown scorer {name!r}; known scorers: {', '.join(list_scorers())}"
        ) from None


def list_scorers() -> list[str]:
    """Names of the registered scorers, sorted.

    Returns
    -------
    list of str
        Names accepted by :func:`get_scorer`.
    """
    return sorted(_SCORERS)


def register_scorer(name: str, scorer: Scorer) -> None:
    """Register a scorer under a new name.

    Parameters
    ----------
    name : str
        The new name; it must not be registered yet.
    scorer : callable
        ``scorer(estimator, X, y) -> float``, higher is better.

    Raises
    ------
    ValueError
        If ``name`` is already registered or ``scorer`` is not callable.
    """
    if name in _SCORERS:
        raise ValueError(f"a scorer named {name!r} is already registered")
    if not callable(scorer):
        raise ValueError(f"scorer must be callable(estimator, X, y); got {type(scorer).__name__}")
    _SCORERS[name] = scorer
