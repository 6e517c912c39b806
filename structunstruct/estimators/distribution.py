"""What a distributional regression estimator predicts, written once.

:class:`DistributionalPredictionMixin` owns ``predict`` (the mean),
``predict_distribution``, ``predict_quantile``, ``predict_interval``,
``log_likelihood`` and ``score`` (R²) for an estimator that gives its additive
predictors per row (``_predictors``) and its fitted ``family_``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import r2_score

from ..heads.distributional.head import check_response
from ._frames import predict_frame
from ._parameters import predict_doc


class DistributionalPredictionMixin:
    """Predictions from the predicted distribution of each row."""

    def _predictors(self, X: pd.DataFrame) -> np.ndarray:
        """Additive predictors, shape (n_samples, n_parameters); ``X`` from ``predict_frame``."""
        raise NotImplementedError

    def _parameters(self, X: pd.DataFrame) -> dict[str, torch.Tensor]:
        eta = torch.as_tensor(self._predictors(X), dtype=torch.float64)
        return self.family_.transform(eta)

    @predict_doc
    def predict_distribution(self, X: pd.DataFrame) -> pd.DataFrame:
        """Distribution parameters per row.

        Parameters
        ----------
        %(X)s

        Returns
        -------
        pandas.DataFrame
            One column per parameter of the family (``loc``, ``scale``, ...) on its
            natural scale, index ``X.index``.
        """
        X = predict_frame(self, X)
        params = self._parameters(X)
        return pd.DataFrame({k: v.numpy() for k, v in params.items()}, index=X.index)

    @predict_doc
    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Predicted mean of the distribution of each row.

        Parameters
        ----------
        %(X)s

        Returns
        -------
        ndarray of shape (n_samples,)
            The family's mean at the predicted parameters.
        """
        X = predict_frame(self, X)
        return self.family_.mean(self._parameters(X)).numpy()

    def predict_quantile(self, X: pd.DataFrame, q: float | Sequence[float]) -> np.ndarray:
        """Quantiles of the predicted distribution.

        Parameters
        ----------
        X : pandas.DataFrame
        q : float or sequence of float in (0, 1)

        Returns
        -------
        ndarray of shape (n_samples,) for a scalar ``q``, else (n_samples, len(q)).
        """
        X = predict_frame(self, X)
        levels = np.asarray(q, dtype=np.float64)
        if ((levels <= 0) | (levels >= 1)).any():
            raise ValueError(f"quantile levels must lie in (0, 1); got {q!r}")
        params = {k: v.numpy() for k, v in self._parameters(X).items()}
        out = np.column_stack([self.family_.quantile(params, float(p)) for p in levels.ravel()])
        return out[:, 0] if levels.ndim == 0 else out

    @predict_doc
    def predict_interval(self, X: pd.DataFrame, coverage: float = 0.9) -> np.ndarray:
        """Equal-tailed prediction interval from the predicted distributions.

        Parameters
        ----------
        %(X)s
        coverage : float, default=0.9
            Probability in (0, 1) between the bounds: the quantiles
            ``(1 - coverage) / 2`` and ``(1 + coverage) / 2``.

        Returns
        -------
        ndarray of shape (n_samples, 2)
            Lower and upper bound per row.
        """
        if not 0 < coverage < 1:
            raise ValueError(f"coverage must lie in (0, 1); got {coverage!r}")
        return self.predict_quantile(X, [(1 - coverage) / 2, (1 + coverage) / 2])

    @predict_doc
    def log_likelihood(self, X: pd.DataFrame, y: Any) -> float:
        """Total log-likelihood of ``y`` under the predicted distributions.

        Parameters
        ----------
        %(X)s
        y : array-like of shape (n_samples,)
            Observed responses of the rows of ``X`` (numeric, finite, in the
            family's support).

        Returns
        -------
        float
            Sum of the rows' log-densities (log-probabilities for discrete families).
        """
        X = predict_frame(self, X)
        eta = torch.as_tensor(self._predictors(X), dtype=torch.float64)
        y = check_response(self.family_, y, len(X))
        return float(self.family_.log_prob(eta, torch.as_tensor(y)).sum())

    @predict_doc
    def score(self, X: pd.DataFrame, y: Any, sample_weight: Any = None) -> float:
        """R² of the predicted mean (:func:`sklearn.metrics.r2_score`).

        Parameters
        ----------
        %(X)s
        y : array-like of shape (n_samples,)
            Observed responses of the rows of ``X``.
        sample_weight : array-like of shape (n_samples,), optional
            Row weights of the R²; default equal weights.

        Returns
        -------
        float
            Coefficient of determination (1 is perfect; can be negative).
        """
        return float(r2_score(y, self.predict(X), sample_weight=sample_weight))


__all__ = ["DistributionalPredictionMixin"]
