"""What every survival estimator predicts, written once.

:class:`SurvivalMixin` owns ``score`` (Harrell's C), ``predict_cumulative_hazard``,
``predict_survival_function`` (with ``return_array``), ``predict_median`` and the time
grid. An estimator gives its cumulative hazard on a grid (``_cumulative_hazard``) and
its default grid (``_default_times``); :class:`ProportionalHazardsMixin` gives both for
models ``H(t | x) = H0(t) exp(eta(x))`` with a Breslow baseline.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from ._frames import predict_frame, survival_output
from ._parameters import predict_doc


class SurvivalMixin:
    """``score``, survival and cumulative hazard predictions, the median and the time grid."""

    def _cumulative_hazard(self, X: pd.DataFrame, grid: np.ndarray) -> np.ndarray:
        """``H(t | x)``, shape (n_times, n_samples); ``X`` as ``predict_frame`` returns it."""
        raise NotImplementedError

    def _default_times(self) -> np.ndarray:
        """The time grid used when ``times`` is None."""
        raise NotImplementedError

    def _time_grid(self, times: Any) -> np.ndarray:
        check_is_fitted(self)
        if times is None:
            return self._default_times()
        grid = np.asarray(times, dtype=np.float64).reshape(-1)
        if not np.isfinite(grid).all() or (grid < 0).any():
            raise ValueError("times must be finite and non-negative")
        return grid

    @predict_doc
    def predict_cumulative_hazard(self, X: pd.DataFrame, times: Any = None) -> pd.DataFrame:
        """Cumulative hazard ``H(t | x)`` of each row.

        Parameters
        ----------
        %(X)s
        times : array-like, optional
            Time grid (finite, non-negative); default the model's grid (the unique
            training event times; DeepPAMM: its cut points, including 0).

        Returns
        -------
        pandas.DataFrame
            Index = time, one column per row of ``X`` (columns = ``X.index``).
        """
        X = predict_frame(self, X)
        grid = self._time_grid(times)
        values = self._cumulative_hazard(X, grid)
        return pd.DataFrame(values, index=pd.Index(grid, name="time"), columns=X.index)

    @predict_doc
    def predict_survival_function(
        self, X: pd.DataFrame, times: Any = None, return_array: bool = False
    ) -> pd.DataFrame | np.ndarray:
        """Survival function ``S(t | x) = exp(-H(t | x))``.

        Parameters
        ----------
        %(X)s
        times : array-like, optional
            Time grid (finite, non-negative); default as :meth:`predict_cumulative_hazard`.
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

    @predict_doc
    def predict_median(self, X: pd.DataFrame) -> np.ndarray:
        """Median survival time per row (``inf`` when ``S(t | x)`` stays above 0.5).

        Parameters
        ----------
        %(X)s

        Returns
        -------
        ndarray of shape (n_samples,)
            The first time of the default grid at which ``S(t | x)`` drops to 0.5 or
            below (DeepPAMM: exact, solved within the interval of its piecewise
            constant hazard).
        """
        return self._median(predict_frame(self, X))

    def _median(self, X: pd.DataFrame) -> np.ndarray:
        """Median per row on the default grid; ``X`` as ``predict_frame`` returns it."""
        return median_survival_time(self.predict_survival_function(X))

    @predict_doc
    def score(self, X: pd.DataFrame, y: Any) -> float:
        """Harrell's concordance index of :meth:`predict` on ``(X, y)``.

        Other metrics in model selection: ``scoring=su.metrics.get_scorer("uno_c")``
        (or ``"harrell_c"``, ``"auc"``, ``"neg_ibs"``) in ``cross_val_score`` or
        ``GridSearchCV``.

        Parameters
        ----------
        %(X)s
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


class ProportionalHazardsMixin(SurvivalMixin):
    """``H(t | x) = H0(t) exp(eta(x))``: ``baseline_cumulative_hazard_`` (a Series on the
    training event times) times the exponentiated :meth:`predict`."""

    def _default_times(self) -> np.ndarray:
        return self.baseline_cumulative_hazard_.index.to_numpy()

    def _cumulative_hazard(self, X: pd.DataFrame, grid: np.ndarray) -> np.ndarray:
        base = self.baseline_cumulative_hazard_
        values = step_function_values(base.index.to_numpy(), base.to_numpy(), grid)
        return np.outer(values, np.exp(self.predict(X)))


def step_function_values(knots: np.ndarray, values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Evaluate a right-continuous step function (0 before the first knot)."""
    idx = np.searchsorted(knots, grid, side="right") - 1
    return np.where(idx >= 0, values[np.maximum(idx, 0)], 0.0)


def median_survival_time(survival: pd.DataFrame) -> np.ndarray:
    """First time at which each column of a survival DataFrame drops to 0.5 or below.

    Returns ``inf`` where the curve stays above 0.5; shape (n_columns,).
    """
    below = survival.to_numpy() <= 0.5
    times = survival.index.to_numpy()
    return np.where(below.any(axis=0), times[below.argmax(axis=0)], np.inf)


__all__ = ["ProportionalHazardsMixin", "SurvivalMixin", "median_survival_time", "step_function_values"]
