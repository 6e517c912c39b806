"""The distributional head of :class:`~structunstruct.SemiStructuredRegressor`.

Classical fit: penalized Newton-Raphson of every parameter's structured predictor
(:func:`.fitter.fit_distributional`). Deep fit: the network (location predictor with
its deep part, further parameters' linear predictors) trained on the negative
log-likelihood from the classical fit (``deep_strategy``), then projection and refit
with the deep part as an offset, repeated until the coefficients settle.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.utils.validation import column_or_1d

from ...classical.penalty import lifelines_ridge
from ...data import StructuredDesign, parse_structured
from ...data.roles import check_columns_present
from ...nn.orthogonalization import Orthogonalization
from .deep import (
    freeze_location_structure,
    initial_structured_weights,
    make_loss,
    random_holdout,
    set_structured_weights,
)
from .families import DistributionalPredictor, Family, get_family
from .fitter import DistributionalFit, fit_distributional
from .terms import StructuredParts

#: Rounds of weighted projection and refit after training (see :meth:`DistributionalHead.project_and_refit`).
MAX_REPROJECTIONS = 10


class DistributionalHead:
    """Fit steps of distributional regression for the estimator ``est``.

    Parameters
    ----------
    est : SemiStructuredRegressor
        The estimator being fitted (``family``, ``scale``, ``shape``,
        ``deep_strategy``, ``penalizer`` and the shared parameters).
    """

    def __init__(self, est: Any) -> None:
        self.est = est

    # -- before training ---------------------------------------------------------------
    def check_target(self, y: Any, n_samples: int) -> np.ndarray:
        self.family = get_family(self.est.family)
        self.check_strategy()
        return check_response(self.family, y, n_samples)

    def check_strategy(self) -> None:
        """``deep_strategy`` other than joint replaces the cell and needs structured terms."""
        strategy = self.est.deep_strategy
        if strategy != "joint" and self.est.orthogonalize is True:
            raise ValueError(
                f"deep_strategy={strategy!r} replaces the orthogonalization cell; "
                "set orthogonalize=False (the cell belongs to deep_strategy='joint')"
            )
        if strategy != "joint" and not parse_structured(self.est.structured):
            raise ValueError(f"deep_strategy={strategy!r} needs structured terms")

    def leakage_targets(self, target: np.ndarray) -> dict[str, np.ndarray]:
        return {}

    def prepare(self, state: Any) -> None:
        if not state.roles.structured and not state.roles.has_deep_part:
            raise ValueError("the model has no inputs: give structured terms, tabular columns or an image")
        ridge = lifelines_ridge(self.est.penalizer, len(state.X))
        designs = [state.builder.design_, *self.other_designs(state.X)]
        self.parts = StructuredParts(self.family, designs, ridge)
        self.matrices = self.parts.matrices(state.X)
        self.parts.check_identifiable(self.matrices)

    def other_designs(self, X: Any) -> list[StructuredDesign]:
        """The fitted structured designs of the parameters after the location."""
        for name in ("scale", "shape"):
            if getattr(self.est, name) is not None and name not in self.family.parameters:
                raise ValueError(
                    f"family {self.family.name!r} has no {name!r} parameter; its parameters are "
                    f"{list(self.family.parameters)}"
                )
        designs = []
        for name in self.family.parameters[1:]:
            terms = parse_structured(getattr(self.est, name))
            check_columns_present(X, [t.column for t in terms], role=name)
            designs.append(StructuredDesign(terms).fit(X))
        return designs

    def wrap(self, predictor: torch.nn.Module, state: Any) -> DistributionalPredictor:
        return distributional_module(predictor, self.parts)

    def rewrap(self, predictor: torch.nn.Module) -> DistributionalPredictor:
        module = distributional_module(predictor, self.est.parts_)
        if self.est.deep_strategy == "post_hoc" and module.location.has_deep_part:  # added after training
            module.location.orthogonalization = Orthogonalization()
        return module

    # -- fits ----------------------------------------------------------------------------
    def fit_classical(self, module: DistributionalPredictor, state: Any, offsets: list | None = None,
                      init: list | None = None) -> DistributionalFit:
        """Maximum likelihood of the structured predictors (``offsets``: fixed parts)."""
        parts = self.parts
        fit = fit_distributional(
            parts.family, state.target, self.matrices, offsets=offsets, smooths=parts.smooths(),
            init=parts.initial(state.target) if init is None else init,
            names=parts.coefficient_names(), reference=parts.initial(state.target),
        )
        set_structured_weights(module, fit.coef)
        return fit

    def fit_deep(self, module: DistributionalPredictor, start: DistributionalFit, state: Any) -> DistributionalFit:
        est, parts, y = self.est, self.parts, state.target
        if est.deep_strategy == "two_stage":
            freeze_location_structure(module)
        else:
            set_structured_weights(module, initial_structured_weights(start.coef, module.location.orthogonalization is not None))
        arrays = {**state.arrays, **{f"structured_{n}": m[:, 1:].astype(np.float32)
                                     for n, m in zip(parts.family.parameters[1:], self.matrices[1:])}}
        tensors = est._tensors(arrays, y=y)
        valid = random_holdout(len(y), est.validation_fraction, state.rng)
        loss_fn = make_loss(parts.family, module, parts.smooths(), start.smoothing, len(y) - len(valid))
        est._train(module, tensors, loss_fn, valid, state.seed)
        if est.deep_strategy == "post_hoc":
            module.location.orthogonalization = Orthogonalization()
        est.network_coef_ = np.concatenate([c.detach().double().numpy().ravel() for c in structured_tensors(module)])
        fit = self.project_and_refit(module, arrays, start, state)
        set_structured_weights(module, fit.coef)
        return fit

    def project_and_refit(self, module: DistributionalPredictor, arrays: dict, start: DistributionalFit,
                          state: Any) -> DistributionalFit:
        """Store the cell's projection, refit the structured part with the deep part as offset.

        A weighted projection (modelled scale, GLM families) uses the Fisher weights at
        the structured predictors, which the refit changes; projection and refit are
        therefore repeated, with the weights of the last refit, until the coefficients
        settle (at most :data:`MAX_REPROJECTIONS` times), so the final deep part is
        orthogonal to the design in the weights of the reported fit.
        """
        est, fit = self.est, None
        tensors = est._tensors(arrays)
        for _ in range(MAX_REPROJECTIONS if module.family is not None else 1):
            weight = module.orthogonalization_weight(tensors)
            est._fit_orthogonal_projection(module.location, arrays, weight)
            deep = est._outputs(module, arrays)["deep"][:, 0]
            previous, fit = fit, self.refit(module, start, deep, state)
            set_structured_weights(module, fit.coef)
            if weight is None or (previous is not None and settled(previous, fit)):
                break
        return fit

    def refit(self, module: DistributionalPredictor, start: DistributionalFit, deep: np.ndarray,
              state: Any) -> DistributionalFit:
        """The structured refit at the deep part ``deep`` (two-stage: only the further parameters)."""
        matrices, y = self.matrices, state.target
        if self.est.deep_strategy != "two_stage":
            return self.fit_classical(module, state, [deep] + [None] * (len(matrices) - 1), init=start.coef)
        parts = self.parts
        loc = matrices[0] @ start.coef[0] + deep
        fit = fit_distributional(
            parts.family, y, [np.zeros((len(y), 0)), *matrices[1:]], offsets=[loc] + [None] * (len(matrices) - 1),
            smooths=[s for s in parts.smooths() if s.parameter > 0], init=[np.zeros(0), *start.coef[1:]],
            names=parts.coefficient_names()[parts.sizes[0]:], reference=[np.zeros(0), *parts.initial(y)[1:]],
        )
        return two_stage_fit(start, fit)

    # -- fitted state --------------------------------------------------------------------
    def store(self, module: DistributionalPredictor, fit: DistributionalFit, state: Any) -> None:
        est = self.est
        est.family_, est.parts_, est.structured_fit_ = self.parts.family, self.parts, fit
        est.summary_ = self.parts.summary(fit.coef, fit.covariance)
        loc = est.summary_.loc["loc", "coef"].to_numpy()
        est.intercept_, est.coef_ = float(loc[0]), loc[1:]
        est.log_likelihood_, est.converged_ = fit.log_likelihood, fit.converged


def check_response(family: Family, y: Any, n: int) -> np.ndarray:
    """``y`` as a writable float64 copy: 1-D, finite, ``n`` values, in the family's support."""
    try:
        y = column_or_1d(np.array(y, dtype=np.float64), warn=True)  # a copy: writable
    except (TypeError, ValueError) as err:
        raise ValueError(f"y must be numeric and 1-D: {err}") from err
    if not np.isfinite(y).all():
        raise ValueError(
            f"y contains {int((~np.isfinite(y)).sum())} NaN or infinite values "
            f"(first at position {int(np.flatnonzero(~np.isfinite(y))[0])})"
        )
    if len(y) != n:
        raise ValueError(f"y has {len(y)} values but X has {n} rows")
    family.check_target(y)
    return y


def distributional_module(location: torch.nn.Module, parts: StructuredParts) -> DistributionalPredictor:
    """The location's additive predictor plus the further parameters' linear predictors."""
    sizes = [d.n_features for d in parts.designs[1:]]
    return DistributionalPredictor(location, sizes, parts.family.parameters[1:], parts.family)


def structured_tensors(module: DistributionalPredictor) -> list[torch.Tensor]:
    """The location's intercept and structured weights in the network."""
    location = module.location
    weights = [location.bias]
    if location.structured is not None:
        weights.append(location.structured.weight)
    return weights


def settled(previous: DistributionalFit, current: DistributionalFit, tol: float = 1e-6) -> bool:
    """Whether two fits' coefficients agree to ``tol`` (absolute, standardized scale)."""
    return bool(np.max(np.abs(np.concatenate(previous.coef) - np.concatenate(current.coef))) < tol)


def two_stage_fit(stage_one: DistributionalFit, others: DistributionalFit) -> DistributionalFit:
    """Location from stage one, further parameters refitted; block-diagonal covariance."""
    p = len(stage_one.coef[0])
    rest = others.covariance
    covariance = np.zeros((p + len(rest), p + len(rest)))
    covariance[:p, :p] = stage_one.covariance[:p, :p]
    covariance[p:, p:] = rest
    return DistributionalFit(
        [stage_one.coef[0], *others.coef[1:]], covariance, others.log_likelihood,
        stage_one.smoothing, stage_one.edf, others.n_iter, others.converged,
    )


__all__ = ["DistributionalHead", "MAX_REPROJECTIONS", "check_response", "distributional_module"]
