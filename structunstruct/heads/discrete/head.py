"""The logistic-hazard head of :class:`~structunstruct.MultiSurv`: the steps of the one fit template.

Prepare: the grid ``cuts_`` (:mod:`.cuts`) and each row's cut index
(:func:`~structunstruct.nn.multimodal.discretize_survival`, as pycox's
``LabTransDiscreteTime``). Classical fit: the structured logistic-hazard model, a
Bernoulli GLM on person-period rows (:func:`.fitter.fit_logistic_hazard`); with a deep
part it is the start (baseline logits and structured weights). Deep fit: mini-batch
:func:`~structunstruct.nn.multimodal.nll_logistic_hazard`, then the structured
coefficients refitted by IRLS with the network's logits as an offset (standard errors
conditional on the deep part), as DeepSurv refits its Cox coefficients.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ...classical.diagnostics import check_identifiable
from ...classical.summary import coefficient_table
from ...data import as_survival_target
from ...data.leakage import survival_targets
from ...nn.multimodal.discrete import discretize_survival, nll_logistic_hazard
from ...training import local_torch_seed
from ...training.samplers import stratified_holdout
from ..pamm.glm import GLMFit
from .cuts import resolve_discrete_cuts
from .fitter import fit_logistic_hazard
from .module import NO_EVENT_LOGIT, LogisticHazardPredictor


class DiscreteHead:
    """Fit steps of the logistic-hazard model for the estimator ``est``.

    Parameters
    ----------
    est : MultiSurv
        The estimator being fitted (``cuts`` and the shared parameters).
    """

    def __init__(self, est: Any) -> None:
        self.est = est

    # -- before training ---------------------------------------------------------------
    def check_target(self, y: Any, n_samples: int) -> np.ndarray:
        if self.est.fusion == "late":
            raise ValueError(
                f"{type(self.est).__name__} fuses its modalities inside one network; fusion='late' is not "
                "supported (use fusion='joint', or LateFusion of DeepSurv members)"
            )
        return as_survival_target(y, n_samples=n_samples)

    def leakage_targets(self, target: np.ndarray) -> dict[str, np.ndarray]:
        return survival_targets(target)

    def prepare(self, state: Any) -> None:
        if not state.roles.structured and not state.roles.has_deep_part:
            raise ValueError("the model has no inputs: give structured terms, tabular columns or an image")
        time = np.ascontiguousarray(state.target["time"], dtype=np.float64)
        self.event_observed = np.ascontiguousarray(state.target["event"], dtype=bool)
        self.cuts = resolve_discrete_cuts(time, self.event_observed, self.est.cuts)
        index, event = discretize_survival(torch.as_tensor(time), torch.as_tensor(self.event_observed),
                                           torch.as_tensor(self.cuts))
        self.index, self.event = index.numpy(), event.numpy().astype(np.float64)
        self.design = state.arrays["structured"]
        self.names = state.builder.design_.feature_names
        if self.design.shape[1]:
            check_identifiable(self.design, self.names)

    def wrap(self, predictor: torch.nn.Module, state: Any) -> LogisticHazardPredictor:
        with local_torch_seed(state.seed + 1, torch.device("cpu")):
            return LogisticHazardPredictor(predictor, len(self.cuts))

    def rewrap(self, predictor: torch.nn.Module) -> LogisticHazardPredictor:
        return LogisticHazardPredictor(predictor, len(self.est.cuts_))

    # -- fits ----------------------------------------------------------------------------
    def fit_classical(self, module: LogisticHazardPredictor, state: Any) -> GLMFit:
        """The GLM on the structured terms; the whole model without a deep part, else the start."""
        fit, active = fit_logistic_hazard(self.design, self.index, self.event, len(self.cuts), names=self.names)
        events = np.bincount(self.index[self.event > 0], minlength=len(self.cuts))
        baseline = np.where(events > 0, -NO_EVENT_LOGIT, NO_EVENT_LOGIT)  # hazard 1 or 0
        baseline[active] = fit.coef[: active.sum()]
        module.set_baseline(torch.as_tensor(baseline))
        self.beta_slice = slice(int(active.sum()), None)
        set_structured_weights(module, fit.coef[self.beta_slice])
        return fit

    def fit_deep(self, module: LogisticHazardPredictor, fit: GLMFit, state: Any) -> GLMFit | None:
        est = self.est
        tensors = est._tensors(state.arrays, index=self.index, event=self.event)

        def loss_fn(outputs: dict, batch: dict) -> torch.Tensor:
            return nll_logistic_hazard(outputs["eta"], batch["index"], batch["event"])

        valid = stratified_holdout(self.event_observed, est.validation_fraction, state.rng)
        est._train(module, tensors, loss_fn, valid, state.seed)
        est._fit_orthogonal_projection(module.predictor, state.arrays)
        if not self.design.shape[1]:
            return None
        deep = est._outputs(module, state.arrays)["deep"]
        fit, _ = fit_logistic_hazard(self.design, self.index, self.event, len(self.cuts), offset=deep,
                                     names=self.names)
        self.beta_slice = slice(0, None)
        set_structured_weights(module, fit.coef)
        return fit

    # -- fitted state --------------------------------------------------------------------
    def store(self, module: LogisticHazardPredictor, fit: GLMFit | None, state: Any) -> None:
        est = self.est
        est.cuts_ = self.cuts
        scale = state.builder.design_.scale_
        if fit is None or not self.design.shape[1]:
            est.coef_ = np.zeros(0)
            est.summary_ = coefficient_table([], est.coef_, np.zeros((0, 0)), exponentiate=True)
        else:
            beta = fit.coef[self.beta_slice]
            covariance = fit.covariance[self.beta_slice, self.beta_slice]
            est.coef_ = beta / scale
            est.summary_ = coefficient_table(self.names, est.coef_, covariance / np.outer(scale, scale),
                                             exponentiate=True)
        if fit is not None:
            est.log_likelihood_, est.converged_ = fit.log_likelihood, fit.converged


def set_structured_weights(module: LogisticHazardPredictor, coef: np.ndarray) -> None:
    """Copy the structured coefficients (standardized design) into the network."""
    if module.predictor.structured is None:
        return
    with torch.no_grad():
        module.predictor.structured.weight.copy_(torch.as_tensor(coef, dtype=torch.float32)[None, :])


__all__ = ["DiscreteHead", "set_structured_weights"]
