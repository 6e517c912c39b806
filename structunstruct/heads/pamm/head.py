"""The PAMM head of :class:`~structunstruct.DeepPAMM`: the steps of the one fit template.

Classical fit: the penalized Poisson GLM on the piecewise exponential data
(:func:`.glm.fit_glm`). Deep fit: the network (all terms initialized at the classical
fit, smoothing parameters fixed there) trained on the Poisson likelihood of subjects'
exposure matrices, then the classical terms refitted with the deep part as an offset.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from ...classical.diagnostics import check_identifiable
from ...classical.penalty import lifelines_ridge
from ...classical.summary import coefficient_table
from ...data import as_survival_target
from ...data.design import linear_columns
from ...data.leakage import survival_targets
from ...training.samplers import stratified_holdout
from .glm import GLMFit, fit_glm
from .module import PAMMPredictor, piecewise_exponential_loss
from .ped import exposure_matrix, integrated_hazard, resolve_cuts, split_ped
from .terms import PAMMTerms


class PAMMHead:
    """Fit steps of the PAMM for the estimator ``est`` (its parameters and helpers).

    Parameters
    ----------
    est : DeepPAMM
        The estimator being fitted (``cuts``, ``baseline``, ``baseline_df``,
        ``time_varying``, ``random_effects``, ``penalizer`` and the shared parameters).
    """

    def __init__(self, est: Any) -> None:
        self.est = est

    # -- before training ---------------------------------------------------------------
    def check_target(self, y: Any, n_samples: int) -> np.ndarray:
        return as_survival_target(y, n_samples=n_samples)

    def leakage_targets(self, target: np.ndarray) -> dict[str, np.ndarray]:
        return survival_targets(target)

    def prepare(self, state: Any) -> None:
        est, X = self.est, state.X
        self.time, self.event = np.asarray(state.target["time"]), np.asarray(state.target["event"])
        cuts = resolve_cuts(self.time, self.event, est.cuts)
        self.ped = split_ped(self.time, self.event, cuts)
        if est.random_effects is not None and est.random_effects not in X.columns:
            raise ValueError(f"random_effects column {est.random_effects!r} not found in X")
        self.design_ = state.builder.design_
        self.terms = PAMMTerms(
            cuts, est.baseline, est.baseline_df, tuple(est.time_varying or ()), est.random_effects,
            lifelines_ridge(est.penalizer, len(X)),
        ).fit(self.design_, X, self.ped)
        self.design = self.design_.transform(X)
        check_identifiable(self.design, self.design_.feature_names, self.terms.structured_penalty(self.design_))
        self.codes = self.terms.group_codes(X)

    def wrap(self, predictor: torch.nn.Module, state: Any) -> PAMMPredictor:
        return pamm_module(predictor, self.terms)

    def rewrap(self, predictor: torch.nn.Module) -> PAMMPredictor:
        return pamm_module(predictor, self.est.terms_)

    # -- fits ----------------------------------------------------------------------------
    def fit_classical(self, module: PAMMPredictor, state: Any, shift: np.ndarray | None = None,
                      init: np.ndarray | None = None) -> GLMFit:
        """The penalized Poisson GLM on the PED, the deep part ``shift`` per subject as offset."""
        rows = self.ped.subset(self.terms.active_[self.ped.interval])
        X_ped, groups = self.terms.glm_inputs(self.design, self.codes, rows)
        offset = rows.offset + (0.0 if shift is None else shift[rows.subject])
        fit = fit_glm(
            X_ped, rows.status, "poisson", offset=offset,
            penalties=self.terms.penalties(self.design_), groups=groups, init=init,
            names=self.terms.coefficient_names(self.design_),
        )
        module.set_coefficients(torch.as_tensor(fit.coef))
        return fit

    def fit_deep(self, module: PAMMPredictor, fit: GLMFit, state: Any) -> GLMFit:
        est = self.est
        exposure, status = exposure_matrix(self.time, self.event, self.terms.cuts)
        exposure[:, ~self.terms.active_] = 0.0
        tensors = est._tensors(state.arrays, exposure=exposure, status=status)
        tensors["group"] = torch.as_tensor(self.codes)
        module.penalty = penalty_tensor(self.terms, self.design_, fit)
        n_cells = float((exposure > 0).sum())

        def loss_fn(outputs: dict, batch: dict) -> torch.Tensor:
            nll = piecewise_exponential_loss(outputs["log_hazard"], batch["exposure"], batch["status"])
            return nll + module.penalty_value() / n_cells

        valid = stratified_holdout(self.event, est.validation_fraction, state.rng)
        est._train(module, tensors, loss_fn, valid, state.seed)
        est._fit_orthogonal_projection(module.predictor, state.arrays)
        deep = est._outputs(module, {**state.arrays, "group": self.codes})["deep"][:, 0]
        return self.fit_classical(module, state, deep, init=fit.coef)

    # -- fitted state --------------------------------------------------------------------
    def store(self, module: PAMMPredictor, fit: GLMFit, state: Any) -> None:
        est, terms = self.est, self.terms
        est.terms_, est.cuts_ = terms, terms.cuts
        est.coefficients_, est.covariance_ = fit.coef, fit.covariance
        est.log_likelihood_, est.converged_ = fit.log_likelihood, fit.converged
        est.smoothing_parameters_, est.edf_ = fit.lambdas, fit.edf
        linear = np.asarray(linear_columns(self.design_), dtype=int)
        index = terms.slices()["structured"].start + linear
        scale = self.design_.scale_[linear]
        est.coef_ = fit.coef[index] / scale
        covariance = fit.covariance[np.ix_(index, index)] / np.outer(scale, scale)
        names = [self.design_.feature_names[i] for i in linear]
        est.summary_ = coefficient_table(names, est.coef_, covariance, exponentiate=True)
        est.baseline_hazard_, est.baseline_cumulative_hazard_ = baseline_hazard(terms, fit.coef, self.design_)
        est.random_effects_, est.random_effect_variance_ = random_intercepts(terms, fit)


def pamm_module(predictor: torch.nn.Module, terms: PAMMTerms) -> PAMMPredictor:
    """The PAMM network: the additive predictor plus baseline, time-varying and random terms."""
    times = terms.interval_times
    return PAMMPredictor(
        predictor,
        torch.as_tensor(terms.baseline_matrix(times)),
        torch.as_tensor(terms.tv_matrix(times)),
        terms.tv_columns_.tolist(),
        len(terms.levels_),
    )


def penalty_tensor(terms: PAMMTerms, design: Any, fit: GLMFit) -> torch.Tensor | None:
    """The smoothing penalties at the classical fit's weights, as one matrix (or None)."""
    penalties = terms.penalties(design)
    if not penalties:
        return None
    P = np.zeros((terms.n_coef, terms.n_coef))
    for pen in penalties:
        P[pen.columns, pen.columns] += fit.lambdas[pen.name] * pen.matrix
    return torch.as_tensor(P, dtype=torch.float32)


def baseline_hazard(terms: PAMMTerms, coef: np.ndarray, design: Any) -> tuple[pd.Series, pd.Series]:
    """Hazard per interval at the mean covariates, and its integral at the cut points."""
    zero = np.zeros((1, design.n_features))
    log_hazard = terms.log_hazard(coef, zero, np.full(1, -1), np.zeros(1))[:, 0]
    return baseline_series(np.exp(log_hazard), terms.cuts)


def baseline_series(hazard: np.ndarray, cuts: np.ndarray) -> tuple[pd.Series, pd.Series]:
    """``hazard`` per interval, shape (K,), as a Series on the intervals, and its integral at ``cuts``."""
    intervals = pd.IntervalIndex.from_breaks(cuts, closed="right", name="interval")
    cumulative = np.concatenate([[0.0], np.cumsum(hazard * np.diff(cuts))])
    return (pd.Series(hazard, index=intervals, name="hazard"),
            pd.Series(cumulative, index=pd.Index(cuts, name="time"), name="cumulative_hazard"))


def averaged_baseline(members: list, weights: np.ndarray, cuts: np.ndarray) -> tuple[pd.Series, pd.Series]:
    """Baseline of late fusion: members' log baseline hazards (same ``cuts``) averaged with ``weights``.

    The combined log hazard is the weighted mean of the members' log hazards, so at the
    reference point of every member (structured covariates at their means, deep parts 0)
    it is the weighted mean of their log baselines.
    """
    log_hazard = sum(w * np.log(member.baseline_hazard_.to_numpy()) for w, member in zip(weights, members))
    return baseline_series(np.exp(log_hazard), cuts)


def random_intercepts(terms: PAMMTerms, fit: GLMFit) -> tuple[pd.Series, float | None]:
    """Predicted random intercepts by level and their variance (empty, None without them)."""
    if not terms.levels_:
        return pd.Series(dtype=float), None
    values = fit.coef[terms.slices()["random"]]
    variance = 1.0 / fit.lambdas[f"({terms.random_effects})"]
    return pd.Series(values, index=pd.Index(terms.levels_, name=terms.random_effects)), variance


def median_time(log_hazard: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """Exact median of a piecewise constant hazard, ``log_hazard`` of shape (K, n).

    The time at which ``H(t) = log 2``, solved within its interval; ``inf`` when the
    cumulative hazard at the last cut point stays below ``log 2``.
    """
    hazard = np.exp(log_hazard)
    cumulative = integrated_hazard(hazard, cuts, cuts)
    target = np.log(2.0)
    above = cumulative >= target
    k = np.clip(above.argmax(axis=0) - 1, 0, len(cuts) - 2)
    cols = np.arange(hazard.shape[1])
    with np.errstate(divide="ignore", invalid="ignore"):
        median = cuts[k] + (target - cumulative[k, cols]) / hazard[k, cols]
    return np.where(above.any(axis=0), median, np.inf)


__all__ = ["PAMMHead", "averaged_baseline", "baseline_hazard", "baseline_series", "median_time", "pamm_module", "penalty_tensor", "random_intercepts"]
