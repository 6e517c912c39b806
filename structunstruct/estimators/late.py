"""Late fusion: one model per modality, predictions combined (Huang et al. 2020)."""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.utils._param_validation import Interval, StrOptions

from ..classical import breslow_cumulative_hazard, fit_cox
from ..classical.summary import coefficient_table
from ..data import as_survival_target
from ..persistence import PersistenceMixin
from ._frames import fit_frame, predict_frame, survival_output
from .base import median_survival_time, step_function_values


class LateFusion(PersistenceMixin, BaseEstimator):
    """Combine the linear predictors of several fitted survival models.

    Each member sees its own modality (e.g. a Cox model on the tabular columns and a
    DeepConvSurv on the image column). Their log-risks ``eta_k`` are combined as
    ``eta = sum_k w_k eta_k``:

    - ``combine="mean"``: ``w_k = 1 / K`` (averaging of log hazard ratios);
    - ``combine="stacking"``: ``w`` are the coefficients of a Cox model fitted on
      out-of-fold linear predictors (``cv`` folds), so no member is weighted by its
      in-sample fit; ``stacking_summary_`` reports them with standard errors.

    The members are then refitted on all rows, and a Breslow baseline hazard is
    estimated for the combined predictor, so survival curves are available as for
    any Cox model.

    Parameters
    ----------
    estimators : list of (name, estimator)
        Survival estimators exposing ``fit`` and ``predict`` (log-risk).
    combine : {"mean", "stacking"}, default="mean"
    cv : int, default=5
        Folds for the out-of-fold predictions of stacking.
    ties : {"efron", "breslow"}, default="efron"
        Ties of the stacking Cox model.
    random_state : int or None
        Fold assignment for stacking.

    Attributes
    ----------
    estimators_ : list of (name, fitted estimator)
    weights_ : ndarray of shape (n_estimators,)
    stacking_summary_ : pandas.DataFrame or None
    baseline_cumulative_hazard_ : pandas.Series
    """

    _parameter_constraints: dict = {
        "estimators": [list],
        "combine": [StrOptions({"mean", "stacking"})],
        "cv": [Interval(Integral, 2, None, closed="left")],
        "ties": [StrOptions({"efron", "breslow"})],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        estimators: Sequence[tuple[str, Any]],
        combine: str = "mean",
        cv: int = 5,
        ties: str = "efron",
        random_state: Any = None,
    ) -> None:
        self.estimators = estimators
        self.combine = combine
        self.cv = cv
        self.ties = ties
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y: Any) -> LateFusion:
        """Fit every member (and the stacking weights), then the baseline hazard.

        Parameters
        ----------
        X : pandas.DataFrame or array-like of shape (n_samples, n_features)
            Training rows; every member is fitted on all columns and uses those of
            its own modality.
        y : structured array, DataFrame or tuple
            Observed survival: a structured array with an event (bool) and a time field
            (scikit-survival), a DataFrame with a time and an event column, or a tuple
            ``(time, event)``.

        Returns
        -------
        self
            The fitted estimator.
        """
        self._validate_params()
        X = fit_frame(self, X)
        target = as_survival_target(y, n_samples=len(X))
        names = [name for name, _ in self.estimators]
        if len(set(names)) != len(names) or not names:
            raise ValueError(f"estimators need distinct names; got {names}")
        if self.combine == "stacking":
            self.weights_, self.stacking_summary_ = self._stacking_weights(X, target)
        else:
            self.weights_ = np.full(len(names), 1.0 / len(names))
            self.stacking_summary_ = None
        self.estimators_ = [(name, clone(est).fit(X, target)) for name, est in self.estimators]
        eta = self._member_predictions(X) @ self.weights_
        times, cumhaz = breslow_cumulative_hazard(target["time"], target["event"], eta)
        self.baseline_cumulative_hazard_ = pd.Series(cumhaz, index=pd.Index(times, name="time"))
        return self

    def _stacking_weights(self, X: pd.DataFrame, target: np.ndarray) -> tuple[np.ndarray, pd.DataFrame]:
        oof = np.zeros((len(X), len(self.estimators)))
        for train, test in self._folds(target):
            for k, (_, est) in enumerate(self.estimators):
                member = clone(est).fit(X.iloc[train], target[train])
                oof[test, k] = member.predict(X.iloc[test])
        oof = oof - oof.mean(axis=0)
        names = [name for name, _ in self.estimators]
        fit = fit_cox(oof, target["time"], target["event"], ties=self.ties, names=names, role="stacked member")
        return fit.coef, coefficient_table(names, fit.coef, fit.covariance, exponentiate=True)

    def _folds(self, target: np.ndarray):
        splitter = StratifiedKFold(self.cv, shuffle=True, random_state=self.random_state)
        try:
            return list(splitter.split(np.zeros(len(target)), target["event"]))
        except ValueError:
            return list(KFold(self.cv, shuffle=True, random_state=self.random_state).split(target))

    def _member_predictions(self, X: pd.DataFrame) -> np.ndarray:
        return np.column_stack([est.predict(X) for _, est in self.estimators_])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Combined log-risk ``sum_k w_k eta_k(x)``; higher means an earlier event.

        Parameters
        ----------
        X : pandas.DataFrame or array-like of shape (n_samples, n_features)
            Rows to predict, with the training columns; every member receives all of
            them.

        Returns
        -------
        ndarray of shape (n_samples,)
            The members' log-risks weighted by ``weights_``.
        """
        X = predict_frame(self, X)
        return self._member_predictions(X) @ self.weights_

    def predict_cumulative_hazard(self, X: pd.DataFrame, times: Any = None) -> pd.DataFrame:
        """Cumulative hazard ``H(t | x) = H0(t) exp(eta(x))`` of the combined log-risk.

        Parameters
        ----------
        X : pandas.DataFrame or array-like of shape (n_samples, n_features)
            Rows to predict, with the training columns; every member receives all of
            them.
        times : array-like, optional
            Time grid (finite, non-negative); default the unique training event times
            (the index of ``baseline_cumulative_hazard_``).

        Returns
        -------
        pandas.DataFrame
            Index = time, one column per row of ``X`` (columns = ``X.index``).
        """
        X = predict_frame(self, X)
        base = self.baseline_cumulative_hazard_
        grid = base.index.to_numpy() if times is None else np.asarray(times, dtype=float).reshape(-1)
        if not np.isfinite(grid).all() or (grid < 0).any():
            raise ValueError("times must be finite and non-negative")
        values = step_function_values(base.index.to_numpy(), base.to_numpy(), grid)
        return pd.DataFrame(
            np.outer(values, np.exp(self.predict(X))), index=pd.Index(grid, name="time"),
            columns=X.index,
        )

    def predict_survival_function(
        self, X: pd.DataFrame, times: Any = None, return_array: bool = False
    ) -> pd.DataFrame | np.ndarray:
        """Survival function ``S(t | x) = exp(-H(t | x))``.

        Parameters
        ----------
        X : pandas.DataFrame or array-like of shape (n_samples, n_features)
            Rows to predict, with the training columns; every member receives all of
            them.
        times : array-like, optional
            Time grid (finite, non-negative); default the unique training event times
            (the index of ``baseline_cumulative_hazard_``).
        return_array : bool, default=False
            Return a numpy array of shape (n_samples, n_times), rows of ``X`` by times,
            as scikit-survival's ``return_array=True``, instead of the DataFrame.

        Returns
        -------
        pandas.DataFrame or ndarray
            DataFrame: index = time, one column per row of ``X`` (as the cumulative
            hazard); with ``return_array=True`` an array of shape (n_samples, n_times).
        """
        return survival_output(np.exp(-self.predict_cumulative_hazard(X, times)), return_array)

    def predict_median(self, X: pd.DataFrame) -> np.ndarray:
        """Median survival time per row (``inf`` when S(t) stays above 0.5).

        Parameters
        ----------
        X : pandas.DataFrame or array-like of shape (n_samples, n_features)
            Rows to predict, with the training columns; every member receives all of
            them.

        Returns
        -------
        ndarray of shape (n_samples,)
            The first training event time at which ``S(t | x)`` drops to 0.5 or below.
        """
        return median_survival_time(self.predict_survival_function(X))

    def score(self, X: pd.DataFrame, y: Any) -> float:
        """Harrell's C of the combined log-risk.

        Other metrics in model selection: ``scoring=su.metrics.get_scorer("uno_c")``
        (or ``"harrell_c"``, ``"auc"``, ``"neg_ibs"``) in ``cross_val_score`` or
        ``GridSearchCV``.

        Parameters
        ----------
        X : pandas.DataFrame or array-like of shape (n_samples, n_features)
            Rows to predict, with the training columns; every member receives all of
            them.
        y : structured array, DataFrame or tuple
            Observed survival of the rows of ``X``: a structured array with an event
            (bool) and a time field (scikit-survival), a DataFrame with a time and an
            event column, or a tuple ``(time, event)``.

        Returns
        -------
        float
            The fraction of comparable pairs ranked correctly (0.5: random ranking).
        """
        from ..metrics import concordance_index_harrell

        return float(concordance_index_harrell(y, self.predict(X)))
