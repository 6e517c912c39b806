"""DeepPAMM: piecewise exponential additive mixed models with deep, image and text parts."""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ..heads.pamm.effects import effect_frame, effect_matrix
from ..heads.pamm.head import PAMMHead, averaged_baseline, median_time
from ..heads.pamm.ped import hazard_at, integrated_hazard, resolve_cuts
from ._frames import predict_frame
from ._parameters import COMMON_CONSTRAINTS, predict_doc, shared_parameters
from .base import SemiStructuredEstimator
from .late import MemberAverage, scaled_member_summary
from .survival import SurvivalMixin


@shared_parameters({"batch_size": 256})
class DeepPAMM(SurvivalMixin, SemiStructuredEstimator):
    """Piecewise exponential additive mixed model (PAMM) with an optional deep part.

    Follow-up is split at the cut points ``0 = c_0 < ... < c_K`` into
    piecewise-exponential data (one row per subject and interval at risk); the hazard
    is constant within an interval and its log is

    ``log h(t | x) = f_0(t) + X beta + sum_j x_j f_j(t) + u_group + h(tabular, image)``

    fitted as a Poisson model with a log-exposure offset (Bender, Groll & Scheipl
    2018; Kopper et al. 2022 for the deep part). ``f_0`` is the baseline
    (``"piecewise"``: one log-hazard per interval; ``"spline"``: a P-spline of time),
    ``f_j(t)`` are time-varying effects (non-proportional hazards), ``u`` Gaussian
    random intercepts. The deep part is time-constant (a proportional shift).

    Without a deep part (``tabular=[]``, no image) the model is fitted as the
    (penalized) GLM it is, by IRLS to convergence: with a piecewise baseline and
    linear terms only it is the ordinary Poisson GLM on the PED (equal to statsmodels
    ``GLM(Poisson, offset=log(exposure))``). Penalized terms (``s(col)``, the spline
    baseline, time-varying effects, random intercepts) get smoothing parameters
    estimated by Fellner-Schall updates (a fixed point of the Laplace-approximate
    REML criterion, as mgcv's ``gam(method="REML")`` targets); ``s(col, df=k)`` and
    ``baseline_df`` fix the effective df instead. The random-intercept variance is
    the inverse of its penalty weight. Standard errors come from the penalized
    Fisher information ``(X'WX + S)^-1`` (mgcv's Bayesian ``Vp``).

    With a deep part the network (structured, time terms and deep part, all
    initialized at the classical fit, smoothness penalties fixed at their classical
    values) is trained on the Poisson likelihood in mini-batches of subjects; the
    classical terms are then refitted by penalized IRLS with the deep part as an
    offset, which gives ``summary_`` (standard errors conditional on the deep part).

    With ``fusion="late"`` one DeepPAMM per modality is fitted on the same cut
    points and their log hazards are averaged interval by interval (a geometric
    mean of the members' hazards), so the combined model is again a piecewise
    exponential model (available as ``late_``).

    Parameters
    ----------
    %(shared_parameters)s
    cuts : int or sequence of float, default=20
        Number of intervals (cut points at quantiles of the event times) or explicit
        cut points, strictly increasing (0 is prepended when missing); follow-up after
        the last cut point is censored there.
    baseline : {"piecewise", "spline"}, default="piecewise"
    baseline_df : float, optional
        Effective df of the spline baseline; default estimated.
    time_varying : list of str, optional
        Columns whose effect changes over time; each must be a linear structured term
        with one design column. The effect is ``beta_x + f_x(t)`` (``partial_effect("x(t)")``).
    random_effects : str, optional
        Grouping column of random intercepts (levels unseen in training get 0).
    penalizer : float, default=0.0
        Ridge penalty on the linear structured coefficients (not the baseline, smooths,
        time-varying effects or random intercepts) with lifelines' convention (see
        :class:`~structunstruct.DeepSurv`): ``n * penalizer / 2 * sum_j b_j^2``, ``n``
        subjects, ``b_j`` standardized by the column's sample standard deviation; in
        the classical fit and in the deep part's training (its weights appear in
        ``smoothing_parameters_`` as ``ridge(col)``). Without it, linearly dependent
        structured columns raise a ``ValueError`` naming them, and diverging
        coefficients (a level without events) give a ``ConvergenceWarning``,
        ``converged_=False`` and a standard error of about 1e10.

    Attributes
    ----------
    module_ : structunstruct.heads.pamm.module.PAMMPredictor
    summary_ : pandas.DataFrame
        Linear structured effects (log hazard ratios): coef, exp(coef), se, 95% CI, z, p.
    coef_ : ndarray
        Linear structured coefficients on the original scale.
    orthogonalize_ : bool
        Whether the orthogonalization cell was used (``orthogonalize`` resolved).
    cuts_ : ndarray of shape (K + 1,)
    baseline_hazard_ : pandas.Series
        Hazard per interval (IntervalIndex) at the mean of the structured covariates
        (deep part and random effects 0).
    baseline_cumulative_hazard_ : pandas.Series
        Its integral at the cut points.
    smoothing_parameters_ : dict of str to float
        Penalty weights; ``edf_`` the effective degrees of freedom per penalized term.
    random_effects_ : pandas.Series
        Predicted random intercepts by level; ``random_effect_variance_`` their variance.
    pretraining_history_ : list of float
        Mean pretraining loss of each epoch (``pretraining``; empty without it).
    history_, log_likelihood_, converged_, feature_names_in_, n_features_in_
    """

    _parameter_constraints: dict = {
        **COMMON_CONSTRAINTS,
        "cuts": [Interval(Integral, 1, None, closed="left"), list, tuple, np.ndarray],
        "baseline": [StrOptions({"piecewise", "spline"})],
        "baseline_df": [Interval(Real, 1, None, closed="left"), None],
        "time_varying": [list, tuple, None],
        "random_effects": [str, None],
        "penalizer": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        *,
        cuts: int | Sequence[float] = 20,
        baseline: str = "piecewise",
        baseline_df: float | None = None,
        time_varying: Sequence[str] | None = None,
        random_effects: str | None = None,
        penalizer: float = 0.0,
        **shared: Any,
    ) -> None:
        super().__init__(**shared)
        self.cuts = cuts
        self.baseline = baseline
        self.baseline_df = baseline_df
        self.time_varying = time_varying
        self.random_effects = random_effects
        self.penalizer = penalizer

    def _make_head(self) -> PAMMHead:
        return PAMMHead(self)

    def _reserved_columns(self) -> tuple[str, ...]:
        """The random-effect grouping column: a label, not a covariate of the deep part."""
        return () if self.random_effects is None else (self.random_effects,)

    def _combine_late(self, X: pd.DataFrame, target: np.ndarray, members: list) -> None:
        """Members on the same cut points; their interval log hazards averaged."""
        cuts = resolve_cuts(np.asarray(target["time"]), np.asarray(target["event"]), self.cuts)
        members = [(name, est.set_params(cuts=cuts)) for name, est in members]
        self.late_ = MemberAverage(members).fit(X, target)
        self.summary_ = scaled_member_summary(self.late_, exponentiate=True)
        self.coef_ = self.summary_["coef"].to_numpy()
        self.cuts_ = cuts
        fitted = [member for _, member in self.late_.estimators_]
        self.baseline_hazard_, self.baseline_cumulative_hazard_ = averaged_baseline(fitted, self.late_.weights_, cuts)

    # -- prediction --------------------------------------------------------------------
    def _interval_log_hazard(self, X: pd.DataFrame) -> np.ndarray:
        """Log hazard per interval, shape (K, n); ``X`` as returned by ``predict_frame``."""
        if self.late_ is not None:
            return self.late_.combine("_interval_log_hazard", X)
        design = self.inputs_.design_.transform(X)
        codes = self.terms_.group_codes(X)
        shift = np.zeros(len(X))
        if self.module_.has_deep_part:
            arrays = self.inputs_.transform(X)
            shift = self._outputs(self.module_, {**arrays, "group": codes})["deep"][:, 0]
        return self.terms_.log_hazard(self.coefficients_, design, codes, shift)

    def _default_times(self) -> np.ndarray:
        return self.cuts_

    def _cumulative_hazard(self, X: pd.DataFrame, grid: np.ndarray) -> np.ndarray:
        return integrated_hazard(np.exp(self._interval_log_hazard(X)), self.cuts_, grid)

    def _median(self, X: pd.DataFrame) -> np.ndarray:
        return median_time(self._interval_log_hazard(X), self.cuts_)

    def predict_hazard(self, X: pd.DataFrame, times: Any = None) -> pd.DataFrame:
        """Hazard ``h(t | x)`` (piecewise constant, intervals right-closed).

        Parameters
        ----------
        X : pandas.DataFrame
        times : array-like, optional
            Default the interval end points.

        Returns
        -------
        pandas.DataFrame
            Index = time, one column per row of ``X``.
        """
        X = predict_frame(self, X)
        hazard = np.exp(self._interval_log_hazard(X))
        grid = self.cuts_[1:] if times is None else self._time_grid(times)
        return pd.DataFrame(hazard_at(hazard, self.cuts_, grid), index=pd.Index(grid, name="time"),
                            columns=X.index)

    @predict_doc
    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Risk score: log cumulative hazard at the last cut point (higher = earlier event).

        Under proportional hazards this ranks as the linear predictor does; with
        time-varying effects it summarises the whole follow-up.

        Parameters
        ----------
        %(X)s

        Returns
        -------
        ndarray of shape (n_samples,)
            ``log H(c_K | x)``, ``c_K`` the last cut point.
        """
        X = predict_frame(self, X)
        total = self._cumulative_hazard(X, self.cuts_[-1:])[0]
        return np.log(np.maximum(total, 1e-300))

    def partial_effect(self, term: str, values: Any = None) -> pd.DataFrame:
        """A term's contribution to the log hazard with a pointwise 95% band.

        Parameters
        ----------
        term : str
            ``"s(col)"`` (centred smooth, default 100 values over the training range),
            ``"col(t)"`` (log hazard ratio per unit of ``col`` at time ``t``, time
            constant part included) or ``"baseline"`` (log baseline hazard at the
            mean covariates); the latter two default to the interval end points.
        values : array-like, optional
            Covariate values or times.

        Returns
        -------
        pandas.DataFrame
            Columns ``effect``, ``se``, ``lower 95%``, ``upper 95%``; index = values.
        """
        check_is_fitted(self, "terms_")
        grid, L, name = effect_matrix(term, self.terms_, self.inputs_.design_, values)
        return effect_frame(grid, L, self.coefficients_, self.covariance_, name)



__all__ = ["DeepPAMM"]
