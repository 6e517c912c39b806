"""Deep-part helpers of SemiStructuredRegressor: module weights, loss, hold-out."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ...classical.penalty import Penalty
from ...training.distributed import global_mean
from .families import DistributionalPredictor, Family

DEEP_STRATEGIES = ("joint", "two_stage", "post_hoc")


def set_structured_weights(module: DistributionalPredictor, coef: Sequence[np.ndarray]) -> None:
    """Copy ``[intercept, coefficients]`` of each parameter into the module."""
    location = module.location
    with torch.no_grad():
        location.bias.fill_(float(coef[0][0]))
        if location.structured is not None:
            location.structured.weight.copy_(torch.as_tensor(coef[0][1:], dtype=torch.float32)[None, :])
        for j, name in enumerate(module.names):
            module.intercepts[j] = float(coef[j + 1][0])
            if name in module.linears:
                weights = torch.as_tensor(coef[j + 1][1:], dtype=torch.float32)[None, :]
                module.linears[name].weight.copy_(weights)


def initial_structured_weights(coef: Sequence[np.ndarray], orthogonalized: bool) -> list[np.ndarray]:
    """Starting weights of joint training from the structured-only fit ``coef``.

    With the orthogonalization cell the deep part cannot take the linear effects of
    the structured columns, so every structured weight starts at the structured-only
    maximum-likelihood fit: the slopes then start where the cell lets them end, and
    no parameter has to absorb their misfit while they move (with a modelled scale, a
    scale inflated early by slopes far from their optimum down-weights exactly the
    rows the deep part has to learn from). Without the cell the location slopes start
    at 0 and share the linear effects with the deep part freely.
    """
    if orthogonalized:
        return [np.asarray(c, dtype=np.float64) for c in coef]
    loc = np.concatenate([coef[0][:1], np.zeros(len(coef[0]) - 1)])
    return [loc, *coef[1:]]


def freeze_location_structure(module: DistributionalPredictor) -> None:
    """Keep the location's intercept and structured weights fixed (two-stage fitting)."""
    module.location.bias.requires_grad_(False)
    if module.location.structured is not None:
        module.location.structured.weight.requires_grad_(False)


def _weights(module: DistributionalPredictor, parameter: int) -> torch.Tensor:
    if parameter == 0:
        return module.location.structured.weight[0]
    return module.linears[module.names[parameter - 1]].weight[0]


def make_loss(
    family: Family,
    module: DistributionalPredictor,
    smooths: Sequence[Penalty],
    smoothing: Sequence[float],
    n_rows: int,
):
    """Mean negative log-likelihood plus the smoothing penalties (per row).

    Smooth columns are given in the fitted designs' layout (intercept first), so one
    is subtracted to address the module's weights.
    """
    penalties = [
        (s.parameter, slice(s.columns.start - 1, s.columns.stop - 1), torch.as_tensor(lam * s.matrix, dtype=torch.float32))
        for s, lam in zip(smooths, smoothing)
    ]

    def loss_fn(outputs: dict, batch: dict) -> torch.Tensor:
        log_prob = family.log_prob(outputs["eta"].float(), batch["y"].float())
        nll = -global_mean(log_prob.sum(), len(log_prob))  # the global batch's mean under DDP
        for parameter, columns, matrix in penalties:
            w = _weights(module, parameter)[columns]
            nll = nll + 0.5 * (w @ matrix.to(w.device) @ w) / n_rows
        return nll

    return loss_fn


def random_holdout(n: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of a random validation split."""
    take = int(round(fraction * n))
    if take == 0:
        return np.zeros(0, dtype=np.int64)
    return np.sort(rng.choice(n, size=take, replace=False)).astype(np.int64)


__all__ = [
    "DEEP_STRATEGIES",
    "freeze_location_structure",
    "initial_structured_weights",
    "make_loss",
    "random_holdout",
    "set_structured_weights",
]
