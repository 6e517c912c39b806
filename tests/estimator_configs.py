"""Small configurations of every estimator, for the common tests and their persistence.

``CONFIGS`` maps each estimator class name (as :func:`structunstruct.estimators.all_estimators`
returns it) to its configurations: a classical model, a deep one and late fusion
(``fusion="late"``), and for ``LateFusion`` and ``TunedEstimator`` their own. A new
estimator without an entry fails ``tests/estimators/test_common.py::test_every_estimator_has_configurations``.

Each configuration names its data set (``DATASETS``): the survival checks run on
survival data, the regression checks on regression data. Everything here is also
imported by the fresh process that loads the saved models, so building it is cheap
and deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

import structunstruct as su

FAST = {"max_epochs": 3, "batch_size": 64, "random_state": 0}
IMAGE = {"image": "image", "image_size": 14, "max_epochs": 2, "batch_size": 32, "random_state": 0}


@dataclass(frozen=True)
class Config:
    """One configuration: ``make()`` builds the unfitted estimator, fitted on ``data``."""

    name: str
    make: Callable[[], Any]
    data: str

    @property
    def kind(self) -> str:
        """``"survival"`` or ``"regression"``: which checks apply."""
        return DATASET_KINDS[self.data]


def _regression_frame(n: int, rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
    X = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.uniform(-2, 2, n),
                      "g": pd.Categorical(rng.choice(["a", "b", "c"], n))})
    y = 1 + X["x1"] + np.sin(X["x2"]) + rng.normal(size=n) * np.exp(0.3 * X["x1"])
    return X, y.to_numpy()


@cache
def _dataset(name: str) -> tuple[pd.DataFrame, Any]:
    if name == "gbsg2":
        X, y = su.datasets.load_gbsg2()
        return X.iloc[:240].copy(), y[:240]
    if name == "survival_images":
        return su.datasets.make_survival_images(n=160, random_state=0)
    if name == "regression":
        return _regression_frame(200, np.random.default_rng(1))
    if name == "regression_images":
        return su.datasets.make_regression_images(160, random_state=0)
    raise KeyError(f"unknown data set {name!r}; known: {sorted(DATASET_KINDS)}")


DATASET_KINDS = {"gbsg2": "survival", "survival_images": "survival",
                 "regression": "regression", "regression_images": "regression"}


def dataset(name: str) -> tuple[pd.DataFrame, Any]:
    """A fresh copy of data set ``name``: ``(X, y)``."""
    X, y = _dataset(name)
    return X.copy(), y.copy()


def _cox_members() -> list:
    return [("cox", su.DeepSurv(structured=["age", "pnodes"], tabular=[])),
            ("deep", su.DeepSurv(tabular=["horTh", "tgrade"], **FAST))]


def _tuned() -> Any:
    from optuna.distributions import FloatDistribution

    return su.tuning.TunedEstimator(
        su.DeepSurv(structured=["age", "pnodes", "horTh"], tabular=[]),
        search_space={"penalizer": FloatDistribution(1e-3, 1.0, log=True)},
        n_trials=2, cv=2, random_state=0,
    )


CONFIGS: dict[str, list[Config]] = {
    "DeepSurv": [
        Config("cox", lambda: su.DeepSurv(structured=["age", "pnodes", "horTh"], tabular=[]), "gbsg2"),
        Config("deepsurv", lambda: su.DeepSurv(tabular=["age", "pnodes", "horTh", "tgrade"], **FAST), "gbsg2"),
        Config("wide_deep_orth",
               lambda: su.DeepSurv(structured=["age", "pnodes"], orthogonalize=True, **FAST), "gbsg2"),
        Config("deepsurv_late",
               lambda: su.DeepSurv(structured=["age", "sex", "biomarker"], fusion="late", **IMAGE),
               "survival_images"),
    ],
    "DeepPAMM": [
        Config("pamm", lambda: su.DeepPAMM(structured=["age", "pnodes", "horTh"], tabular=[], cuts=8), "gbsg2"),
        Config("deep_pamm",
               lambda: su.DeepPAMM(structured=["age"], tabular=["pnodes", "tgrade"], cuts=8, **FAST), "gbsg2"),
        Config("deep_pamm_late",
               lambda: su.DeepPAMM(structured=["age", "sex", "biomarker"], cuts=6, fusion="late", **IMAGE),
               "survival_images"),
    ],
    "SemiStructuredRegressor": [
        Config("regression_gam", lambda: su.SemiStructuredRegressor(
            structured="x1 + s(x2, df=4) + g", scale="x1", tabular=[]), "regression"),
        Config("regression_deep", lambda: su.SemiStructuredRegressor(
            structured=["x1", "g"], tabular=["x2"], **FAST), "regression"),
        Config("regression_late", lambda: su.SemiStructuredRegressor(
            structured=["x1", "sex"], tabular=["x2"], fusion="late", **IMAGE), "regression_images"),
    ],
    "MultiSurv": [
        Config("multisurv_classical",
               lambda: su.MultiSurv(structured=["age", "pnodes", "horTh"], tabular=[], cuts=20), "gbsg2"),
        Config("multisurv", lambda: su.MultiSurv(tabular=["age", "pnodes", "horTh", "tgrade"], cuts=20, **FAST),
               "gbsg2"),
        Config("multisurv_image", lambda: su.MultiSurv(structured=["age", "sex"], tabular=["biomarker"],
                                                       fusion_layer="max", cuts=30, **IMAGE), "survival_images"),
    ],
    "LateFusion": [
        Config("late_fusion_mean", lambda: su.LateFusion(_cox_members(), combine="mean"), "gbsg2"),
        Config("late_fusion_stacking",
               lambda: su.LateFusion(_cox_members(), combine="stacking", cv=3, random_state=0), "gbsg2"),
    ],
    "TunedEstimator": [Config("tuned_cox", _tuned, "gbsg2")],
}

ALL_CONFIGS: list[Config] = [config for configs in CONFIGS.values() for config in configs]


def cases() -> dict[str, tuple[Any, pd.DataFrame, Any]]:
    """name -> (unfitted estimator, X, y) of every configuration (the persistence loader's input)."""
    return {config.name: (config.make(), *dataset(config.data)) for config in ALL_CONFIGS}
