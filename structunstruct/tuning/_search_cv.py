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
        """Tune on ``X, y`` and refit the best parameters on all of them."""
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
        if hasattr(self.best_estimator_, "feature_names_in_"):
            self.feature_names_in_ = self.best_estimator_.feature_names_in_
        return self

    def _fitted(self) -> Any:
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_

    @available_if(_delegates("predict"))
    def predict(self, X: Any) -> Any:
        """``best_estimator_.predict(X)``."""
        return self._fitted().predict(X)

    @available_if(_delegates("score"))
    def score(self, X: Any, y: Any) -> float:
        """``best_estimator_.score(X, y)`` (Harrell's C for survival, R² for regression)."""
        return self._fitted().score(X, y)

    @available_if(_delegates("predict_survival_function"))
    def predict_survival_function(self, X: Any, *args: Any, **kwargs: Any) -> Any:
        """``best_estimator_.predict_survival_function``."""
        return self._fitted().predict_survival_function(X, *args, **kwargs)

    @available_if(_delegates("predict_cumulative_hazard"))
    def predict_cumulative_hazard(self, X: Any, *args: Any, **kwargs: Any) -> Any:
        """``best_estimator_.predict_cumulative_hazard``."""
        return self._fitted().predict_cumulative_hazard(X, *args, **kwargs)

    @available_if(_delegates("predict_median"))
    def predict_median(self, X: Any) -> Any:
        """``best_estimator_.predict_median``."""
        return self._fitted().predict_median(X)

    @available_if(_delegates("predict_distribution"))
    def predict_distribution(self, X: Any) -> Any:
        """``best_estimator_.predict_distribution``."""
        return self._fitted().predict_distribution(X)

    @available_if(_delegates("predict_quantile"))
    def predict_quantile(self, X: Any, q: Any) -> Any:
        """``best_estimator_.predict_quantile``."""
        return self._fitted().predict_quantile(X, q)

    @available_if(_delegates("predict_interval"))
    def predict_interval(self, X: Any, coverage: float = 0.9) -> Any:
        """``best_estimator_.predict_interval``."""
        return self._fitted().predict_interval(X, coverage)

    @available_if(_delegates("log_likelihood"))
    def log_likelihood(self, X: Any, y: Any) -> float:
        """``best_estimator_.log_likelihood``."""
        return self._fitted().log_likelihood(X, y)
