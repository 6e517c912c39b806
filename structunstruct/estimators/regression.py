"""SemiStructuredRegressor: semi-structured deep distributional regression."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import RegressorMixin
from sklearn.utils._param_validation import Interval, Real, StrOptions
from sklearn.utils.validation import check_is_fitted

from ..heads.distributional.deep import DEEP_STRATEGIES
from ..heads.distributional.head import DistributionalHead
from ._parameters import COMMON_CONSTRAINTS, shared_parameters
from .base import SemiStructuredEstimator
from .distribution import DistributionalPredictionMixin
from .late import MemberAverage, scaled_member_summary

_TERMS = [str, list, tuple, None]


@shared_parameters({"batch_size": 256})
class SemiStructuredRegressor(DistributionalPredictionMixin, RegressorMixin, SemiStructuredEstimator):
    """Semi-structured deep distributional regression (Rügamer, Kolb & Klein).

    Every parameter of a distribution ``family`` has its own additive predictor,
    mapped through the parameter's natural link (see :mod:`structunstruct.heads.distributional.families`):

    - the location ``loc`` (the mean of the normal, Poisson, gamma, ... families):
      ``eta = b0 + X beta + sum_j f_j(x_j) + h(tabular, image)`` with linear terms,
      categorical dummies and centred P-splines ``s(col)`` from ``structured``, and a
      deep part fed by ``tabular`` columns and an ``image`` column;
    - every further parameter (``scale``, ``shape``): an intercept plus its own
      structured terms (``scale="x1 + s(x2)"``); a constant when ``None``.

    Regimes, all the same estimator:

    - only ``structured`` terms (``tabular=[]``, no image): a classical (generalized)
      additive model for location, scale and shape, fitted by full-batch penalized
      maximum likelihood to convergence (float64 Newton-Raphson); it agrees with
      statsmodels OLS (normal) and GLM (Poisson, gamma with log link);
    - **wide & deep**: the same columns in ``structured`` and ``tabular``. The deep
      network can then absorb the linear effects; the orthogonalization cell (on by
      default here, ``orthogonalize="auto"``) projects the deep latent features on the
      orthogonal complement of ``[1, X]`` so the structured coefficients keep their
      classical meaning. Alternatives (``deep_strategy``): ``"two_stage"`` (Law et al.
      2019: structured model first, deep part on its fixed predictor) and
      ``"post_hoc"`` (train without the cell, then move the linear projection of the
      deep part on ``[1, X]`` into the structured coefficients);
    - image (+ tabular) models: the deep part of the location is an image encoder;
      several image columns (``image=["street", "aerial"]``) each get their own
      encoder, their features fused before the location's deep part.

    **Law et al. 2019** (house prices from street-view and aerial images in a
    semi-interpretable model, Law, Paige & Russell, ACM TIST 10(5)): structured
    covariates plus two image columns, the image features made orthogonal to the
    structured effects so the coefficients keep their structured-only meaning. In two
    stages as in the paper, ``SemiStructuredRegressor(structured=cols, tabular=[],
    image=["street", "aerial"], deep_strategy="two_stage")``, or inside the network,
    ``deep_strategy="joint", orthogonalize=True``. Both report the location
    coefficients of the structured-only fit (see the example below and
    ``benchmarks/results/modalities.md``).

    Deep models are trained on the negative log-likelihood by mini-batch AdamW,
    starting from the structured fit; afterwards all structured coefficients are
    refitted by full-batch maximum likelihood with the deep part as a fixed offset,
    so ``summary_`` and its standard errors are conditional on the deep part.

    With ``fusion="late"`` one regressor per modality is fitted and their additive
    predictors are averaged parameter by parameter on the link scale, so the
    combined prediction is a distribution of the same family (for the normal
    location: the mean of the members' predicted means; available as ``late_``).

    Parameters
    ----------
    %(shared_parameters)s
    family : str, default="normal"
        One of ``bernoulli``, ``beta``, ``gamma``, ``laplace``, ``lognormal``,
        ``negbin``, ``normal``, ``poisson``, ``student_t``.
    scale : str or list of str, optional
        Structured terms of the ``scale`` parameter (sd, dispersion, precision).
    shape : str or list of str, optional
        Structured terms of the ``shape`` parameter (``student_t`` degrees of freedom).
    deep_strategy : {"joint", "two_stage", "post_hoc"}, default="joint"
        How structured and deep parts are fitted (``orthogonalize`` applies to
        ``"joint"`` only). With the cell, the projection is weighted by each row's
        Fisher information of the location (``1 / sigma^2`` for a normal location
        with a modelled scale), so the reported location coefficients are the
        structured-only weighted fit in the model's own weights, whatever the deep
        part (``orthogonalize="auto"`` resolves to ``False`` with ``deep_strategy``
        other than ``"joint"``).
    penalizer : float, default=0.0
        Ridge penalty on the linear structured coefficients of every parameter (not
        the intercepts, not the smooths), with lifelines' convention (see
        :class:`~structunstruct.DeepSurv`): ``n * penalizer / 2 * sum_j b_j^2`` with
        ``b_j`` the coefficient of column ``j`` standardized by its sample standard
        deviation, in the classical fit and in the deep part's training loss. Without
        it, linearly dependent columns of a parameter's design raise a ``ValueError``
        naming them, and diverging coefficients (separation) give a
        ``ConvergenceWarning``, ``converged_=False`` and a standard error of about 1e10.

    Attributes
    ----------
    module_ : structunstruct.heads.distributional.families.DistributionalPredictor
    family_ : Family
    summary_ : pandas.DataFrame
        Index ``(parameter, term)``; columns coef, se, lower/upper 95%, z, p. For the
        normal family the se use the ML variance (``RSS / n``): OLS se times
        ``sqrt(n / (n - p))``.
    coef_ : ndarray of shape (n_structured_features,)
        Location coefficients (original scale, no intercept).
    intercept_ : float
    structured_fit_ : DistributionalFit
        The fit on the standardized designs.
    log_likelihood_ : float
        Training log-likelihood.
    history_ : list of dict
    pretraining_history_ : list of float
        Mean pretraining loss of each epoch (``pretraining``; empty without it).
    orthogonalize_ : bool
        Whether the orthogonalization cell was used (``orthogonalize`` resolved).
    network_coef_ : ndarray
        Location intercept and slopes as trained by the network, on the standardized
        design, before the final refit (deep models only).
    feature_names_in_, n_features_in_

    Examples
    --------
    >>> import structunstruct as su
    >>> X, y = su.datasets.make_regression_images(500, random_state=0)
    >>> # classical heteroscedastic model: OLS-like mean, log-linear standard deviation
    >>> gam = su.SemiStructuredRegressor(structured="x1 + s(x2) + sex", scale="x1",
    ...                                  tabular=[]).fit(X, y)
    >>> # wide & deep: the same columns in the structured and the deep tabular part,
    >>> # kept identifiable by the orthogonalization cell
    >>> wide_deep = su.SemiStructuredRegressor(
    ...     structured=["x1", "x2", "sex"], tabular=["x1", "x2", "sex"],
    ...     orthogonalize=True, max_epochs=5, random_state=0).fit(X, y)
    >>> wide_deep.summary_.loc["loc"].shape
    (4, 6)
    >>> # Law et al. 2019: two image columns orthogonal to the structured effects
    >>> X2, y2 = su.datasets.make_regression_images(300, n_images=2, random_state=0)
    >>> structured_only = su.SemiStructuredRegressor(structured=["x1", "x2", "sex"],
    ...                                              tabular=[]).fit(X2, y2)
    >>> law = su.SemiStructuredRegressor(
    ...     structured=["x1", "x2", "sex"], tabular=[], image=["image_a", "image_b"],
    ...     deep_strategy="two_stage", max_epochs=2, random_state=0).fit(X2, y2)
    >>> bool(np.allclose(law.coef_, structured_only.coef_))
    True
    """

    _parameter_constraints: dict = {
        **COMMON_CONSTRAINTS,
        "family": [str],
        "scale": _TERMS,
        "shape": _TERMS,
        "deep_strategy": [StrOptions(set(DEEP_STRATEGIES))],
        "penalizer": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        *,
        family: str = "normal",
        scale: str | Sequence[str] | None = None,
        shape: str | Sequence[str] | None = None,
        deep_strategy: str = "joint",
        penalizer: float = 0.0,
        **shared: Any,
    ) -> None:
        super().__init__(**shared)
        self.family = family
        self.scale = scale
        self.shape = shape
        self.deep_strategy = deep_strategy
        self.penalizer = penalizer

    def _make_head(self) -> DistributionalHead:
        return DistributionalHead(self)

    def _network_outputs(self) -> dict:
        return {"n_outputs": 1, "bias": True}

    def _resolve_orthogonalize(self, roles: Any) -> bool:
        """``"auto"`` as in the other estimators, but never with a non-joint ``deep_strategy``."""
        if self.deep_strategy != "joint":
            return False
        return super()._resolve_orthogonalize(roles)

    def _combine_late(self, X: pd.DataFrame, target: np.ndarray, members: list) -> None:
        """Members' additive predictors averaged per parameter (link scale)."""
        self.late_ = MemberAverage(members).fit(X, target)
        first = self.late_.estimators_[0][1]
        self.family_, self.parts_ = first.family_, first.parts_
        self.summary_ = scaled_member_summary(self.late_, exponentiate=False)
        loc = self.summary_.loc["loc", "coef"].to_numpy() if len(self.summary_) else np.zeros(1)
        self.intercept_, self.coef_ = float(loc[0]), loc[1:]

    # -- prediction --------------------------------------------------------------------
    def _predictors(self, X: pd.DataFrame) -> np.ndarray:
        """Additive predictors, shape (n_samples, n_parameters); ``X`` from ``predict_frame``."""
        if self.late_ is not None:
            return self.late_.combine("_predictors", X)
        arrays = self.inputs_.transform(X)
        eta = self.parts_.linear_predictors(X, self.structured_fit_.coef)
        if self.module_.location.has_deep_part:
            eta[:, 0] += self._outputs(self.module_.location, arrays)["deep"][:, 0]
        return eta

    def partial_effect(
        self, term: str, parameter: str = "loc", grid: Any = None, n_points: int = 100
    ) -> pd.DataFrame:
        """Partial effect of a smooth term on its parameter's predictor (link scale).

        Parameters
        ----------
        term : str
            A smooth term, e.g. ``"s(bmi)"``.
        parameter : str, default="loc"
        grid : array-like, optional
            Values of the term's column; default ``n_points`` over the training range.
        n_points : int, default=100
            Number of grid values when ``grid`` is None.

        Returns
        -------
        pandas.DataFrame
            The column's values, ``effect`` (centred over the training data), ``se``,
            ``lower 95%``, ``upper 95%``.
        """
        check_is_fitted(self, "parts_")
        if parameter not in self.family_.parameters:
            raise ValueError(f"unknown parameter {parameter!r}; known: {list(self.family_.parameters)}")
        if grid is None:
            design = self.parts_.designs[self.family_.parameters.index(parameter)]
            basis = next((e.basis for e in design.encodings_ if str(e.term) == term and e.basis), None)
            lower, upper = (basis.lower_, basis.upper_) if basis is not None else (0.0, 1.0)
            grid = np.linspace(lower, upper, n_points)
        grid = np.asarray(grid, dtype=np.float64).ravel()
        return self.parts_.partial_effect(self.structured_fit_, term, parameter, grid)



__all__ = ["SemiStructuredRegressor"]
