"""The Cox head of :class:`~structunstruct.DeepSurv`: the steps of the one fit template.

Classical fit: Newton-Raphson on the partial likelihood (:func:`.fitter.fit_cox`).
Deep fit: mini-batch partial likelihood (:func:`.loss.cox_ph_loss`, optionally with the
risk-set memory), then the structured coefficients refitted by Newton-Raphson with the
deep part as an offset; the Breslow baseline at the final linear predictor.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.exceptions import ConvergenceWarning

from ...classical.diagnostics import check_identifiable
from ...classical.penalty import lifelines_ridge
from ...classical.summary import coefficient_table
from ...data import as_survival_target, parse_structured
from ...data.leakage import survival_targets
from ...training.samplers import get_batch_sampler, stratified_holdout
from .fitter import CoxFit, breslow_cumulative_hazard, fit_cox
from .loss import RiskSetMemory, cox_ph_loss


class CoxHead:
    """Fit steps of the Cox model for the estimator ``est`` (its parameters and helpers).

    Parameters
    ----------
    est : DeepSurv
        The estimator being fitted (``ties``, ``penalizer``, ``batch_sampler``,
        ``risk_set_memory`` and the shared parameters).
    """

    def __init__(self, est: Any) -> None:
        self.est = est

    # -- before training ---------------------------------------------------------------
    def check_target(self, y: Any, n_samples: int) -> np.ndarray:
        get_batch_sampler(self.est.batch_sampler)  # an unknown name lists the known ones
        smooth = [str(t) for t in parse_structured(self.est.structured) if t.kind == "smooth"]
        if smooth:
            raise ValueError(
                f"smooth terms {smooth} are not supported by DeepSurv yet; use linear terms "
                "(DeepPAMM and SemiStructuredRegressor fit penalized smooths)"
            )
        return as_survival_target(y, n_samples=n_samples)

    def leakage_targets(self, target: np.ndarray) -> dict[str, np.ndarray]:
        return survival_targets(target)

    def prepare(self, state: Any) -> None:
        if not state.roles.structured and not state.roles.has_deep_part:
            raise ValueError("the model has no inputs: give structured terms, tabular columns or an image")
        self.design = state.arrays["structured"]
        self.time = np.ascontiguousarray(state.target["time"])
        self.event = np.ascontiguousarray(state.target["event"])
        penalty = None if self.est.penalizer == 0 else lifelines_ridge(self.est.penalizer, len(self.time))
        self.options = {"names": state.builder.design_.feature_names, "penalty": penalty}
        if penalty is None and state.roles.has_deep_part:  # before training (fit_cox checks too, after it)
            check_identifiable(self.design, self.options["names"])

    def wrap(self, predictor: torch.nn.Module, state: Any) -> torch.nn.Module:
        return predictor

    def rewrap(self, predictor: torch.nn.Module) -> torch.nn.Module:
        return predictor

    # -- fits ----------------------------------------------------------------------------
    def fit_classical(self, module: torch.nn.Module, state: Any) -> CoxFit | None:
        """The Newton fit; with a deep part only its start (when the cell is on)."""
        if state.roles.has_deep_part:
            if module.orthogonalization is not None:  # the slopes start where the cell lets them end
                set_structured_weights(module, fit_cox(self.design, self.time, self.event, ties=self.est.ties).coef)
            return None
        fit = fit_cox(self.design, self.time, self.event, ties=self.est.ties, **self.options)
        set_structured_weights(module, fit.coef)
        self.eta = self.design @ fit.coef
        return fit

    def fit_deep(self, module: torch.nn.Module, fit: CoxFit | None, state: Any) -> CoxFit | None:
        est = self.est
        tensors = est._tensors(state.arrays, time=self.time, event=self.event)
        valid = stratified_holdout(self.event, est.validation_fraction, state.rng)
        est._train(module, tensors, self.loss(), valid, state.seed, get_batch_sampler(est.batch_sampler))
        est._fit_orthogonal_projection(module, state.arrays)
        deep = est._outputs(module, state.arrays)["deep"][:, 0]
        if self.design.shape[1] == 0:
            self.eta = deep
            return None
        init = module.structured.weight.detach().double().numpy()[0]
        fit = fit_cox(self.design, self.time, self.event, ties=est.ties, offset=deep, init=init, **self.options)
        set_structured_weights(module, fit.coef)
        self.eta = self.design @ fit.coef + deep
        return fit

    def loss(self) -> Any:
        """The mini-batch partial likelihood (with the risk-set memory in training steps)."""
        ties = self.est.ties
        memory = RiskSetMemory(self.est.risk_set_memory, ties) if self.est.risk_set_memory else None

        def loss_fn(outputs: dict, batch: dict) -> torch.Tensor:
            if memory is not None and torch.is_grad_enabled():  # training steps, not validation
                return memory.loss(outputs["eta"], batch["time"], batch["event"])
            return cox_ph_loss(outputs["eta"], batch["time"], batch["event"], ties)

        return loss_fn

    # -- fitted state --------------------------------------------------------------------
    def store(self, module: torch.nn.Module, fit: CoxFit | None, state: Any) -> None:
        est = self.est
        scale = state.builder.design_.scale_
        if fit is None:
            est.coef_ = np.zeros(0)
            est.summary_ = coefficient_table([], est.coef_, np.zeros((0, 0)), exponentiate=True)
            times, cumhaz = breslow_cumulative_hazard(self.time, self.event, self.eta)
        else:
            if not fit.converged and not (fit.diverging is not None and fit.diverging.shape[1]):
                warnings.warn(
                    "the Cox partial likelihood did not converge (coefficients may diverge, "
                    "e.g. a level without events: monotone likelihood); check summary_",
                    ConvergenceWarning, stacklevel=4,
                )
            est.coef_ = fit.coef / scale
            covariance = fit.covariance / np.outer(scale, scale)
            est.log_likelihood_ = fit.log_likelihood
            est.converged_ = fit.converged
            est.summary_ = coefficient_table(self.options["names"], est.coef_, covariance, exponentiate=True)
            times, cumhaz = fit.event_times, fit.baseline_cumulative_hazard  # Breslow at the final eta
        est.baseline_cumulative_hazard_ = pd.Series(cumhaz, index=pd.Index(times, name="time"))
        est.event_times_ = times


def set_structured_weights(module: torch.nn.Module, coef: np.ndarray) -> None:
    """Copy the structured coefficients (standardized design) into the network."""
    if module.structured is None:
        return
    with torch.no_grad():
        module.structured.weight.copy_(torch.as_tensor(coef, dtype=torch.float32)[None, :])


__all__ = ["CoxHead", "set_structured_weights"]
