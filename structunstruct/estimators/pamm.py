"""DeepPAMM: piecewise exponential additive mixed models with deep and image parts."""

from __future__ import annotations

import os
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ..classical.cox import lifelines_ridge
from ..classical.diagnostics import check_identifiable
from ..classical.glm import GLMFit, fit_glm
from ..data import as_survival_target
from ..data.leakage import survival_targets
from ..data.ped import (
    PEDSplit,
    exposure_matrix,
    hazard_at,
    integrated_hazard,
    resolve_cuts,
    split_ped,
)
from ..nn.pamm import PAMMPredictor, piecewise_exponential_loss
from ._frames import fit_frame, predict_frame, survival_output
from ._pamm_effects import effect_frame, effect_matrix, time_grid
from ._pamm_terms import PAMMTerms
from .base import COMMON_CONSTRAINTS, SemiStructuredMixin, as_tensors, stratified_holdout
from .summary import coefficient_table


class DeepPAMM(SemiStructuredMixin, BaseEstimator):
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

    Parameters
    ----------
    structured, tabular, image, text, image_encoder, pretrained, text_encoder, image_size, augment, image_cache, fusion, orthogonalize, missing_modalities, modality_dropout, fusion_layer, hidden_layers, fusion_layers, dropout, lr, weight_decay, batch_size, max_epochs, early_stopping, validation_fraction, device, precision, random_state, verbose, callbacks, checkpoint_dir
        As in :class:`~structunstruct.DeepSurv` (``batch_size`` counts subjects;
        ``orthogonalize="auto"``, the default, orthogonalizes the deep part when it
        sees a structured column).
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
    module_ : structunstruct.nn.pamm.PAMMPredictor
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
        structured: str | Sequence[str] | None = None,
        tabular: Sequence[str] | None = None,
        image: str | None = None,
        text: str | None = None,
        *,
        cuts: int | Sequence[float] = 20,
        baseline: str = "piecewise",
        baseline_df: float | None = None,
        time_varying: Sequence[str] | None = None,
        random_effects: str | None = None,
        penalizer: float = 0.0,
        image_encoder: str | torch.nn.Module = "smallcnn",
        pretrained: bool | str = False,
        text_encoder: str = "bow",
        image_size: int | Sequence[int] | None = None,
        augment: bool = True,
        image_cache: str | os.PathLike | None = None,
        fusion: str = "joint",
        orthogonalize: bool | str = "auto",
        missing_modalities: str = "error",
        modality_dropout: float = 0.0,
        fusion_layer: str = "concat",
        hidden_layers: Sequence[int] = (64, 32),
        fusion_layers: Sequence[int] = (32,),
        dropout: float = 0.1,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        batch_size: int = 256,
        max_epochs: int = 100,
        early_stopping: int | None = 10,
        validation_fraction: float = 0.15,
        device: str = "auto",
        precision: str = "auto",
        random_state: Any = None,
        verbose: bool = False,
        callbacks: Sequence[Any] | None = None,
        checkpoint_dir: str | os.PathLike | None = None,
    ) -> None:
        self.structured = structured
        self.tabular = tabular
        self.image = image
        self.text = text
        self.cuts = cuts
        self.baseline = baseline
        self.baseline_df = baseline_df
        self.time_varying = time_varying
        self.random_effects = random_effects
        self.penalizer = penalizer
        self.image_encoder = image_encoder
        self.pretrained = pretrained
        self.text_encoder = text_encoder
        self.image_size = image_size
        self.augment = augment
        self.image_cache = image_cache
        self.fusion = fusion
        self.orthogonalize = orthogonalize
        self.missing_modalities = missing_modalities
        self.modality_dropout = modality_dropout
        self.fusion_layer = fusion_layer
        self.hidden_layers = hidden_layers
        self.fusion_layers = fusion_layers
        self.dropout = dropout
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.device = device
        self.precision = precision
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks
        self.checkpoint_dir = checkpoint_dir

    # -- fitting -----------------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y: Any) -> DeepPAMM:
        """Fit the model.

        Parameters
        ----------
        X : pandas.DataFrame
        y : structured array, DataFrame (time, event) or tuple (time, event)

        Returns
        -------
        self
        """
        self._validate_params()
        self._check_common_params()
        X = fit_frame(self, X)
        target = as_survival_target(y, n_samples=len(X))
        time, event = np.asarray(target["time"]), np.asarray(target["event"])
        cuts = resolve_cuts(time, event, self.cuts)
        roles, builder, arrays = self._fit_inputs(X, survival_targets(target))
        ped = split_ped(time, event, cuts)
        terms = self._fit_terms(builder, X, ped, cuts)
        design = builder.design_.transform(X)
        check_identifiable(design, builder.design_.feature_names, terms.structured_penalty(builder.design_))
        codes = terms.group_codes(X)
        rng, seed = self._random_generators()
        module = self._build_pamm(roles, builder, terms, seed)
        fit = self._fit_classical(terms, builder, design, codes, ped, np.zeros(len(X)))
        module.set_coefficients(torch.as_tensor(fit.coef))
        self.history_ = []
        if roles.has_deep_part:
            deep = self._fit_deep(module, terms, builder, arrays, codes, fit, (time, event), rng, seed)
            fit = self._fit_classical(terms, builder, design, codes, ped, deep, init=fit.coef)
            module.set_coefficients(torch.as_tensor(fit.coef))
        self._store(X, roles, builder, terms, module, fit)
        return self

    def _reserved_columns(self) -> tuple[str, ...]:
        """The random-effect grouping column: a label, not a covariate of the deep part."""
        return () if self.random_effects is None else (self.random_effects,)

    def _fit_terms(self, builder, X: pd.DataFrame, ped: PEDSplit, cuts: np.ndarray) -> PAMMTerms:
        time_varying = tuple(self.time_varying or ())
        if self.random_effects is not None and self.random_effects not in X.columns:
            raise ValueError(f"random_effects column {self.random_effects!r} not found in X")
        return PAMMTerms(
            cuts, self.baseline, self.baseline_df, time_varying, self.random_effects,
            lifelines_ridge(self.penalizer, len(X)),
        ).fit(builder.design_, X, ped)

    def _build_pamm(self, roles, builder, terms: PAMMTerms, seed: int) -> PAMMPredictor:
        predictor = self._build_predictor(roles, builder, seed)
        times = terms.interval_times
        return PAMMPredictor(
            predictor,
            torch.as_tensor(terms.baseline_matrix(times)),
            torch.as_tensor(terms.tv_matrix(times)),
            terms.tv_columns_.tolist(),
            len(terms.levels_),
        )

    @staticmethod
    def _fit_classical(terms, builder, design, codes, ped, shift, init=None) -> GLMFit:
        rows = ped.subset(terms.active_[ped.interval])
        X_ped, groups = terms.glm_inputs(design, codes, rows)
        offset = rows.offset + shift[rows.subject]
        return fit_glm(
            X_ped, rows.status, "poisson", offset=offset,
            penalties=terms.penalties(builder.design_), groups=groups, init=init,
            names=terms.coefficient_names(builder.design_),
        )

    def _fit_deep(self, module, terms, builder, arrays, codes, fit, target, rng, seed) -> np.ndarray:
        """Train the network; return the deep part per training subject."""
        time, event = target
        exposure, status = exposure_matrix(time, event, terms.cuts)
        exposure[:, ~terms.active_] = 0.0
        tensors = as_tensors(arrays)
        tensors["exposure"] = torch.as_tensor(exposure, dtype=torch.float32)
        tensors["status"] = torch.as_tensor(status, dtype=torch.float32)
        tensors["group"] = torch.as_tensor(codes)
        module.penalty = _penalty_tensor(terms, builder.design_, fit)
        n_cells = float((exposure > 0).sum())
        valid = stratified_holdout(event, self.validation_fraction, rng)

        def loss_fn(outputs: dict, batch: dict) -> torch.Tensor:
            nll = piecewise_exponential_loss(outputs["log_hazard"], batch["exposure"], batch["status"])
            return nll + module.penalty_value() / n_cells

        trainer = self._train(module, tensors, loss_fn, valid, seed)
        self.history_ = trainer.history
        self.best_epoch_ = trainer.best_epoch
        self._fit_orthogonal_projection(module.predictor, arrays)
        model_inputs = {**arrays, "group": codes}
        return self._outputs(module, model_inputs)["deep"][:, 0]

    def _store(self, X, roles, builder, terms: PAMMTerms, module, fit: GLMFit) -> None:
        module.eval()
        self.module_ = module
        self.roles_ = roles
        self.inputs_ = builder
        self.terms_ = terms
        self.cuts_ = terms.cuts
        self.coefficients_ = fit.coef
        self.covariance_ = fit.covariance
        self.log_likelihood_ = fit.log_likelihood
        self.converged_ = fit.converged
        self.smoothing_parameters_ = fit.lambdas
        self.edf_ = fit.edf
        self._store_summary(builder, terms, fit)
        self._store_baseline(builder, terms)
        self._store_random_effects(terms, fit)

    def _store_summary(self, builder, terms: PAMMTerms, fit: GLMFit) -> None:
        design = builder.design_
        smooth = np.zeros(design.n_features, dtype=bool)
        for block in design.penalty_blocks:
            smooth[block.columns] = True
        linear = np.flatnonzero(~smooth)
        index = terms.slices()["structured"].start + linear
        scale = design.scale_[linear]
        self.coef_ = fit.coef[index] / scale
        covariance = fit.covariance[np.ix_(index, index)] / np.outer(scale, scale)
        names = [design.feature_names[i] for i in linear]
        self.summary_ = coefficient_table(names, self.coef_, covariance, exponentiate=True)

    def _store_baseline(self, builder, terms: PAMMTerms) -> None:
        zero = np.zeros((1, builder.design_.n_features))
        log_hazard = terms.log_hazard(self.coefficients_, zero, np.full(1, -1), np.zeros(1))[:, 0]
        intervals = pd.IntervalIndex.from_breaks(terms.cuts, closed="right", name="interval")
        hazard = np.exp(log_hazard)
        self.baseline_hazard_ = pd.Series(hazard, index=intervals, name="hazard")
        cumulative = np.concatenate([[0.0], np.cumsum(hazard * np.diff(terms.cuts))])
        self.baseline_cumulative_hazard_ = pd.Series(
            cumulative, index=pd.Index(terms.cuts, name="time"), name="cumulative_hazard"
        )

    def _store_random_effects(self, terms: PAMMTerms, fit: GLMFit) -> None:
        if not terms.levels_:
            self.random_effects_ = pd.Series(dtype=float)
            self.random_effect_variance_ = None
            return
        values = fit.coef[terms.slices()["random"]]
        self.random_effects_ = pd.Series(values, index=pd.Index(terms.levels_, name=terms.random_effects))
        self.random_effect_variance_ = 1.0 / fit.lambdas[f"({terms.random_effects})"]

    # -- prediction --------------------------------------------------------------------
    def _interval_log_hazard(self, X: pd.DataFrame) -> np.ndarray:
        """Log hazard per interval, shape (K, n); ``X`` as returned by ``predict_frame``."""
        design = self.inputs_.design_.transform(X)
        codes = self.terms_.group_codes(X)
        shift = np.zeros(len(X))
        if self.module_.has_deep_part:
            arrays = self.inputs_.transform(X)
            shift = self._outputs(self.module_, {**arrays, "group": codes})["deep"][:, 0]
        return self.terms_.log_hazard(self.coefficients_, design, codes, shift)

    def _frame(self, values: np.ndarray, grid: np.ndarray, X: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(values, index=pd.Index(grid, name="time"), columns=X.index)

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
        grid = self._time_grid(times, self.cuts_[1:])
        return self._frame(hazard_at(hazard, self.cuts_, grid), grid, X)

    def predict_cumulative_hazard(self, X: pd.DataFrame, times: Any = None) -> pd.DataFrame:
        """Cumulative hazard ``H(t | x)``: the hazard integrated over the exposure.

        Beyond the last cut point the last interval's hazard is carried on.

        Parameters
        ----------
        X : pandas.DataFrame or array-like of shape (n_samples, n_features)
            Rows to predict, with the training columns (an array-like only when the
            model has no image or text column).
        times : array-like, optional
            Time grid (finite, non-negative); default the cut points ``cuts_``,
            including 0.

        Returns
        -------
        pandas.DataFrame
            Index = time, one column per row of ``X`` (columns = ``X.index``), as
            :meth:`predict_hazard`.
        """
        X = predict_frame(self, X)
        hazard = np.exp(self._interval_log_hazard(X))
        grid = self._time_grid(times, self.cuts_)
        return self._frame(integrated_hazard(hazard, self.cuts_, grid), grid, X)

    def predict_survival_function(
        self, X: pd.DataFrame, times: Any = None, return_array: bool = False
    ) -> pd.DataFrame | np.ndarray:
        """Survival ``S(t | x) = exp(-H(t | x))``; same layout as the cumulative hazard.

        Parameters
        ----------
        X : pandas.DataFrame or array-like of shape (n_samples, n_features)
            Rows to predict, with the training columns (an array-like only when the
            model has no image or text column).
        times : array-like, optional
            Time grid (finite, non-negative); default the cut points ``cuts_``,
            including 0.
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
        """Median survival time per row, exact for the piecewise-constant hazard.

        ``inf`` when ``S`` stays above 0.5 up to the last cut point.

        Parameters
        ----------
        X : pandas.DataFrame or array-like of shape (n_samples, n_features)
            Rows to predict, with the training columns (an array-like only when the
            model has no image or text column).

        Returns
        -------
        ndarray of shape (n_samples,)
            The time at which ``S(t | x) = 0.5`` (``H(t | x) = log 2``), solved
            within its interval.
        """
        X = predict_frame(self, X)
        hazard = np.exp(self._interval_log_hazard(X))
        cumulative = integrated_hazard(hazard, self.cuts_, self.cuts_)
        target = np.log(2.0)
        above = cumulative >= target
        k = np.clip(above.argmax(axis=0) - 1, 0, len(self.cuts_) - 2)
        cols = np.arange(hazard.shape[1])
        with np.errstate(divide="ignore", invalid="ignore"):
            median = self.cuts_[k] + (target - cumulative[k, cols]) / hazard[k, cols]
        return np.where(above.any(axis=0), median, np.inf)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Risk score: log cumulative hazard at the last cut point (higher = earlier event).

        Under proportional hazards this ranks as the linear predictor does; with
        time-varying effects it summarises the whole follow-up.

        Parameters
        ----------
        X : pandas.DataFrame or array-like of shape (n_samples, n_features)
            Rows to predict, with the training columns (an array-like only when the
            model has no image or text column).

        Returns
        -------
        ndarray of shape (n_samples,)
            ``log H(c_K | x)``, ``c_K`` the last cut point.
        """
        X = predict_frame(self, X)
        hazard = np.exp(self._interval_log_hazard(X))
        total = integrated_hazard(hazard, self.cuts_, self.cuts_[-1:])[0]
        return np.log(np.maximum(total, 1e-300))

    def score(self, X: pd.DataFrame, y: Any) -> float:
        """Harrell's concordance index of :meth:`predict` on ``(X, y)``.

        Other metrics in model selection: ``scoring=su.metrics.get_scorer("uno_c")``
        (or ``"harrell_c"``, ``"auc"``, ``"neg_ibs"``) in ``cross_val_score`` or
        ``GridSearchCV``.

        Parameters
        ----------
        X : pandas.DataFrame or array-like of shape (n_samples, n_features)
            Rows to predict, with the training columns (an array-like only when the
            model has no image or text column).
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
        check_is_fitted(self, "module_")
        grid, L, name = effect_matrix(term, self.terms_, self.inputs_.design_, values)
        return effect_frame(grid, L, self.coefficients_, self.covariance_, name)

    def _time_grid(self, times: Any, default: np.ndarray) -> np.ndarray:
        if times is None:
            return default
        grid = time_grid(self.terms_, times)
        if not np.isfinite(grid).all() or (grid < 0).any():
            raise ValueError("times must be finite and non-negative")
        return grid


def _penalty_tensor(terms: PAMMTerms, design, fit: GLMFit) -> torch.Tensor | None:
    penalties = terms.penalties(design)
    if not penalties:
        return None
    P = np.zeros((terms.n_coef, terms.n_coef))
    for pen in penalties:
        P[pen.columns, pen.columns] += fit.lambdas[pen.name] * pen.matrix
    return torch.as_tensor(P, dtype=torch.float32)
