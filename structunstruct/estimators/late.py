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
from ._frames import fit_frame, predict_frame
from .survival import ProportionalHazardsMixin


class LateFusion(ProportionalHazardsMixin, PersistenceMixin, BaseEstimator):
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


class MemberAverage:
    """The members of ``fusion="late"``, fitted on all rows and averaged with equal weights.

    The average is taken on the head's own predictor scale (``combine``): DeepPAMM
    averages interval log hazards, SemiStructuredRegressor the additive predictors of
    every distribution parameter.

    Parameters
    ----------
    estimators : list of (name, estimator)
        Unfitted members (copies restricted to one modality each).
    """

    def __init__(self, estimators: Sequence[tuple[str, Any]]) -> None:
        self.estimators = list(estimators)

    def fit(self, X: pd.DataFrame, y: Any) -> MemberAverage:
        """Fit every member on ``(X, y)``; weights ``1 / K``.

        Parameters
        ----------
        X : pandas.DataFrame
            Training rows; each member uses the columns of its modality.
        y : array-like
            The target, as the members take it.

        Returns
        -------
        self
            With ``estimators_`` and ``weights_``.
        """
        self.estimators_ = [(name, clone(est).fit(X, y)) for name, est in self.estimators]
        self.weights_ = np.full(len(self.estimators_), 1.0 / len(self.estimators_))
        return self

    def combine(self, method: str, X: pd.DataFrame) -> np.ndarray:
        """The weighted sum of ``member.<method>(X)`` over the members.

        Parameters
        ----------
        method : str
            A method of the members returning an array on the predictor scale.
        X : pandas.DataFrame
            Rows to predict.

        Returns
        -------
        ndarray
            Shaped as each member's output.
        """
        return sum(w * getattr(est, method)(X) for w, (_, est) in zip(self.weights_, self.estimators_))


def scaled_member_summary(late: LateFusion, exponentiate: bool) -> pd.DataFrame:
    """The tabular member's ``summary_`` as its effects enter the combined predictor.

    Coefficients, standard errors and bounds are multiplied by the member's weight in
    ``late`` (empty when there is no tabular member).
    """
    members = dict(late.estimators_)
    tabular = members.get("tabular")
    if tabular is None:
        return coefficient_table([], np.zeros(0), np.zeros((0, 0)), exponentiate=exponentiate)
    weight = dict(zip(members, late.weights_))["tabular"]
    summary = tabular.summary_.copy()
    scaled = ["coef", "se", "lower 95%", "upper 95%"]
    summary[scaled] = summary[scaled] * weight
    if exponentiate:
        summary["exp(coef)"] = np.exp(summary["coef"])
    return summary


__all__ = ["LateFusion", "MemberAverage", "scaled_member_summary"]
