"""``TunedEstimator``: the search of :func:`~structunstruct.tuning.tune` as an estimator.

``fit`` runs an in-memory study on the rows it is given and refits the best
parameters on them; prediction methods delegate to that refitted model. Inside
``cross_val_score(TunedEstimator(model), X, y)`` every outer fold tunes on its own
training rows only, so the outer scores estimate the performance of the whole
procedure, tuning included (nested cross-validation).
"""

from __future__ import annotations

from typing import Any

from sklearn.base import BaseEstimator
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from ._tune import tune


def _delegates(name: str):
    """``available_if`` check: the (fitted or template) estimator has ``name``."""

    def check(self: TunedEstimator) -> bool:
        target = getattr(self, "best_estimator_", self.estimator)
        return hasattr(target, name)

    return check


class TunedEstimator(BaseEstimator):
    """An estimator that tunes its hyperparameters by cross-validation when fitted.

    Parameters
    ----------
    estimator : estimator
        The template whose parameters are tuned.
    search_space, n_trials, timeout, cv, scoring, pruner, sampler, random_state, n_jobs
        As in :func:`~structunstruct.tuning.tune` (the study is kept in memory).

    Attributes
    ----------
    best_estimator_ : estimator
        Refitted on all rows given to ``fit`` with ``best_params_``.
    best_params_ : dict
    best_score_ : Score or dict of str to Score
        Inner cross-validated score (optimistic: it was maximized).
    study_ : optuna.study.Study
    trials_ : pandas.DataFrame
    feature_names_in_, n_features_in_
        Those of ``best_estimator_`` (when it has them).
    """

    def __init__(
        self,
        estimator: Any,
        *,
        search_space: Any = None,
        n_trials: int | None = 20,
        timeout: float | None = None,
        cv: Any = 5,
        scoring: Any = None,
        pruner: Any = "median",
        sampler: Any = None,
        random_state: int | None = None,
        n_jobs: int = 1,
    ) -> None:
        self.estimator = estimator
        self.search_space = search_space
        self.n_trials = n_trials
        self.timeout = timeout
        self.cv = cv
        self.scoring = scoring
        self.pruner = pruner
        self.sampler = sampler
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, X: Any, y: Any) -> TunedEstimator:
        """Tune on ``X, y`` and refit the best parameters on all of them.

        Runs :func:`~structunstruct.tuning.tune` with an in-memory study and
        ``refit=True``, then stores its results as the fitted attributes.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Training rows, used both for the inner cross-validation and the refit.
        y : survival target or array-like of shape (n_samples,)
            Survival targets in any accepted form, or regression targets.

        Returns
        -------
        TunedEstimator
            This estimator, fitted.
        """
        result = tune(
            self.estimator, X, y, search_space=self.search_space, n_trials=self.n_trials,
            timeout=self.timeout, cv=self.cv, scoring=self.scoring, pruner=self.pruner,
            sampler=self.sampler, refit=True, random_state=self.random_state, n_jobs=self.n_jobs,
        )
        self.best_estimator_ = result.best_estimator_
        self.best_params_ = result.best_params_
        self.best_score_ = result.best_score_
        self.study_ = result.study_
        self.trials_ = result.trials_
        for name in ("feature_names_in_", "n_features_in_"):  # as scikit-learn's search estimators
            if hasattr(self.best_estimator_, name):
                setattr(self, name, getattr(self.best_estimator_, name))
        return self

    def _fitted(self) -> Any:
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_

    @available_if(_delegates("predict"))
    def predict(self, X: Any) -> Any:
        """Predict with the best estimator: ``best_estimator_.predict(X)``.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Rows to predict; passed on to the best estimator.

        Returns
        -------
        object
            What ``best_estimator_.predict`` returns.
        """
        return self._fitted().predict(X)

    @available_if(_delegates("score"))
    def score(self, X: Any, y: Any) -> float:
        """Score with the best estimator: ``best_estimator_.score(X, y)``.

        Harrell's C for survival models, R² for regression models.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Rows to score; passed on to the best estimator.
        y : survival target or array-like of shape (n_samples,)
            True targets of ``X``; passed on to the best estimator.

        Returns
        -------
        float
            What ``best_estimator_.score`` returns.
        """
        return self._fitted().score(X, y)

    @available_if(_delegates("predict_survival_function"))
    def predict_survival_function(self, X: Any, *args: Any, **kwargs: Any) -> Any:
        """Delegate to ``best_estimator_.predict_survival_function(X, *args, **kwargs)``.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Rows to predict; passed on to the best estimator.
        *args : tuple
            Further positional arguments, passed on to ``best_estimator_.predict_survival_function``.
        **kwargs : dict
            Keyword arguments, passed on to ``best_estimator_.predict_survival_function``.

        Returns
        -------
        object
            What ``best_estimator_.predict_survival_function`` returns.
        """
        return self._fitted().predict_survival_function(X, *args, **kwargs)

    @available_if(_delegates("predict_cumulative_hazard"))
    def predict_cumulative_hazard(self, X: Any, *args: Any, **kwargs: Any) -> Any:
        """Delegate to ``best_estimator_.predict_cumulative_hazard(X, *args, **kwargs)``.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Rows to predict; passed on to the best estimator.
        *args : tuple
            Further positional arguments, passed on to ``best_estimator_.predict_cumulative_hazard``.
        **kwargs : dict
            Keyword arguments, passed on to ``best_estimator_.predict_cumulative_hazard``.

        Returns
        -------
        object
            What ``best_estimator_.predict_cumulative_hazard`` returns.
        """
        return self._fitted().predict_cumulative_hazard(X, *args, **kwargs)

    @available_if(_delegates("predict_median"))
    def predict_median(self, X: Any) -> Any:
        """Delegate to ``best_estimator_.predict_median(X)``.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Rows to predict; passed on to the best estimator.

        Returns
        -------
        object
            What ``best_estimator_.predict_median`` returns.
        """
        return self._fitted().predict_median(X)

    @available_if(_delegates("predict_distribution"))
    def predict_distribution(self, X: Any) -> Any:
        """Delegate to ``best_estimator_.predict_distribution(X)``.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Rows to predict; passed on to the best estimator.

        Returns
        -------
        object
            What ``best_estimator_.predict_distribution`` returns.
        """
        return self._fitted().predict_distribution(X)

    @available_if(_delegates("predict_quantile"))
    def predict_quantile(self, X: Any, q: Any) -> Any:
        """Delegate to ``best_estimator_.predict_quantile(X, q)``.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Rows to predict; passed on to the best estimator.
        q : float or sequence of float in (0, 1)
            Quantile level(s); passed on to the best estimator.

        Returns
        -------
        object
            What ``best_estimator_.predict_quantile`` returns.
        """
        return self._fitted().predict_quantile(X, q)

    @available_if(_delegates("predict_interval"))
    def predict_interval(self, X: Any, coverage: float = 0.9) -> Any:
        """Delegate to ``best_estimator_.predict_interval(X, coverage)``.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Rows to predict; passed on to the best estimator.
        coverage : float, default=0.9
            Probability in (0, 1) between the bounds; passed on to the best
            estimator.

        Returns
        -------
        object
            What ``best_estimator_.predict_interval`` returns.
        """
        return self._fitted().predict_interval(X, coverage)

    @available_if(_delegates("log_likelihood"))
    def log_likelihood(self, X: Any, y: Any) -> float:
        """Delegate to ``best_estimator_.log_likelihood(X, y)``.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Rows to evaluate; passed on to the best estimator.
        y : survival target or array-like of shape (n_samples,)
            Observed targets of ``X``; passed on to the best estimator.

        Returns
        -------
        float
            What ``best_estimator_.log_likelihood`` returns.
        """
        return self._fitted().log_likelihood(X, y)
