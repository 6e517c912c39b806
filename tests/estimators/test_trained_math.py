"""The trained networks themselves, not only the final classical refit.

A deep model ends with a classical refit of its structured part (the deep part as an
offset), which hides bugs in what the network was trained on. These tests capture a
real training batch (the loss the optimizer saw, with the module's outputs in training
mode) and check it against the textbook likelihood; baselines and combinations are
checked against values computed from outside (lifelines, direct formulas).
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch
from lifelines import CoxPHFitter
from scipy import stats
from sklearn.model_selection import StratifiedKFold

import structunstruct as su
from structunstruct.estimators.base import as_tensors
from structunstruct.training.callbacks import Callback

FAST = {"max_epochs": 2, "batch_size": 64, "random_state": 0, "dropout": 0.0}


class FirstBatch(Callback):
    """Record the first (``last=True``: the last) training batch, the module's outputs
    on it, its weights at that step and the loss."""

    def __init__(self, last: bool = False) -> None:
        self.last = last

    def on_train_begin(self, trainer) -> None:
        get_loss = trainer.get_loss

        def recording(outputs, batch):
            loss = get_loss(outputs, batch)
            if self.last or not hasattr(self, "loss"):
                self.training = trainer.module.training
                self.outputs = {k: v.detach().double() for k, v in outputs.items()}
                self.batch = {k: v.detach() for k, v in batch.items()}
                self.loss = float(loss.detach())
                self.module = copy.deepcopy(trainer.module)  # the weights of this step
            return loss

        trainer.get_loss = recording


@pytest.fixture(scope="module")
def data(gbsg2):
    X, y = gbsg2
    return X.iloc[:240].copy(), y[:240]


def _breslow(time: np.ndarray, event: np.ndarray, eta: np.ndarray) -> pd.Series:
    """Breslow's cumulative baseline hazard, one event time at a time (float64)."""
    times = np.unique(time[event])
    increments = [event[time == t].sum() / np.exp(eta[time >= t]).sum() for t in times]
    return pd.Series(np.cumsum(increments), index=times)


def _cox_partial_likelihood(eta: np.ndarray, time: np.ndarray, event: np.ndarray) -> float:
    """Efron's negative log partial likelihood averaged over events."""
    total = 0.0
    for t in np.unique(time[event]):
        tied = event & (time == t)
        d = int(tied.sum())
        risk, tied_sum = np.exp(eta[time >= t]).sum(), np.exp(eta[tied]).sum()
        total += np.log(risk - np.arange(d) / d * tied_sum).sum() - eta[tied].sum()
    return total / event.sum()


def _projection_on(values: np.ndarray, design: np.ndarray) -> np.ndarray:
    """Least-squares fitted values of ``values`` on ``[1, design]``."""
    x1 = np.column_stack([np.ones(len(design)), design])
    return x1 @ np.linalg.lstsq(x1, values, rcond=None)[0]


def _slopes_on(values: np.ndarray, design: np.ndarray) -> np.ndarray:
    """Least-squares slopes of ``values`` on ``[1, design]`` (without the intercept)."""
    x1 = np.column_stack([np.ones(len(design)), design])
    return np.linalg.lstsq(x1, values, rcond=None)[0][1:]


# -- DeepSurv ---------------------------------------------------------------------------------
def test_deepsurv_trains_on_the_partial_likelihood_with_an_orthogonal_deep_part(data):
    X, y = data
    first = FirstBatch()
    model = su.DeepSurv(structured=["age", "pnodes"], orthogonalize=True, callbacks=[first], **FAST).fit(X, y)
    assert first.training
    time, event = first.batch["time"].numpy().astype(np.float64), first.batch["event"].numpy() > 0
    eta = first.outputs["eta"].numpy()[:, 0]
    assert first.loss == pytest.approx(_cox_partial_likelihood(eta, time, event), rel=1e-5)
    # in training the deep part is orthogonal to [1, X] on the batch itself
    deep, design = first.outputs["deep"].numpy()[:, 0], first.batch["structured"].double().numpy()
    assert np.abs(deep).max() > 1e-3
    np.testing.assert_allclose(_projection_on(deep, design), 0.0, atol=1e-4 * np.abs(deep).max())
    # after training, with the stored projection, on the whole training set
    arrays = as_tensors(model.inputs_.transform(X))
    with torch.no_grad():
        fitted_deep = model.module_.eval()(arrays)["deep"].double().numpy()[:, 0]
    np.testing.assert_allclose(_projection_on(fitted_deep, arrays["structured"].double().numpy()), 0.0,
                               atol=1e-4 * np.abs(fitted_deep).max())


def test_deepsurv_baseline_is_breslow_at_its_own_predictions(data):
    X, y = data
    model = su.DeepSurv(tabular=["age", "pnodes", "tgrade"], **FAST).fit(X, y)
    eta = model.predict(X)
    assert np.abs(eta).max() > 0.05  # a non-trivial predictor: the scaling matters
    expected = _breslow(y["time"], y["event"], eta)
    np.testing.assert_allclose(model.baseline_cumulative_hazard_.index, expected.index)
    np.testing.assert_allclose(model.baseline_cumulative_hazard_.to_numpy(), expected.to_numpy(), rtol=1e-5)
    times = np.array([200.0, 700.0, 1500.0])
    H0 = expected.reindex(expected.index.union(times)).ffill().loc[times].to_numpy()
    np.testing.assert_allclose(model.predict_cumulative_hazard(X.iloc[:5], times=times).to_numpy(),
                               np.outer(H0, np.exp(eta[:5])), rtol=1e-5)


def test_classical_cox_cumulative_hazard_equals_lifelines(data):
    X, y = data
    cols = ["age", "pnodes", "tsize"]
    model = su.DeepSurv(structured=cols, tabular=[]).fit(X, y)
    frame = X[cols].assign(T=y["time"], E=y["event"])
    reference = CoxPHFitter().fit(frame, "T", "E")
    times = np.unique(y["time"][y["event"]])[[10, 40, -5]]  # event times: lifelines interpolates between them
    np.testing.assert_allclose(model.predict_cumulative_hazard(X.iloc[:6], times=times).to_numpy(),
                               reference.predict_cumulative_hazard(X[cols].iloc[:6], times=times).to_numpy(),
                               rtol=2e-4)


# -- DeepPAMM ---------------------------------------------------------------------------------
def test_deep_pamm_trains_on_the_poisson_likelihood_with_offset(data):
    X, y = data
    first = FirstBatch()
    model = su.DeepPAMM(structured="age + s(tsize)", tabular=["age", "pnodes", "tgrade"], orthogonalize=True,
                        cuts=6, callbacks=[first], **FAST).fit(X, y)
    out, batch = first.outputs, first.batch
    exposure, status = batch["exposure"].double().numpy(), batch["status"].double().numpy()
    log_hazard = out["log_hazard"].numpy()
    at_risk = exposure > 0
    # the hazard the network trains: structured + deep + baseline, every part present
    module = first.module
    baseline = (module.baseline_basis.double() @ module.baseline.detach().double()).numpy()
    np.testing.assert_allclose(log_hazard, out["structured"].numpy() + out["deep"].numpy() + baseline[None, :],
                               rtol=1e-5, atol=1e-5)
    assert np.abs(out["deep"].numpy()).max() > 1e-3
    # each at-risk cell a Poisson count with mean exposure * hazard (scipy), averaged over
    # the batch's cells, plus the smoothing penalty 0.5 c' S c over all training cells
    nll = -stats.poisson.logpmf(status[at_risk], exposure[at_risk] * np.exp(log_hazard[at_risk])).sum()
    coef = module.coefficients().detach().double().numpy()
    penalty_matrix = module.penalty.double().numpy()
    assert np.abs(penalty_matrix).max() > 0  # s(tsize) is penalized
    n_cells = sum(min(int(np.searchsorted(model.cuts_, t, side="left")), len(model.cuts_) - 1) for t in y["time"])
    expected = nll / at_risk.sum() + 0.5 * coef @ penalty_matrix @ coef / n_cells
    assert first.loss == pytest.approx(expected, rel=1e-4)
    # the deep part in training is orthogonal to the structured design of the batch
    deep = out["deep"].numpy()[:, 0]
    np.testing.assert_allclose(_projection_on(deep, batch["structured"].double().numpy()), 0.0,
                               atol=1e-4 * np.abs(deep).max())


def test_deep_pamm_refit_uses_the_deep_part(data):
    """Structured coefficients differ from the structured-only fit once the deep part
    (strongly prognostic pnodes) enters the refit as an offset."""
    X, y = data
    deep = su.DeepPAMM(structured=["age"], tabular=["pnodes", "tgrade", "progrec"], cuts=6, **FAST).fit(X, y)
    alone = su.DeepPAMM(structured=["age"], tabular=[], cuts=6).fit(X, y)
    eta = deep.predict(X)
    assert np.std(eta - deep.coef_[0] * X["age"].to_numpy()) > 0.05  # a deep part beyond age
    assert deep.log_likelihood_ != pytest.approx(alone.log_likelihood_, rel=1e-4)


# -- SemiStructuredRegressor ----------------------------------------------------------------
def _heteroscedastic(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n), "x3": rng.normal(size=n)})
    y = 1 + 1.5 * X["x1"] - X["x2"] + 0.3 * np.sin(2 * X["x3"]) + np.exp(-0.7 + 0.6 * X["x2"]) * rng.normal(size=n)
    return X, y.to_numpy()


def test_regressor_trains_on_the_normal_likelihood_with_the_scale_columns():
    X, y = _heteroscedastic()
    first = FirstBatch()
    su.SemiStructuredRegressor(family="normal", structured=["x1", "x2"], tabular=["x3"], scale=["x2"],
                               callbacks=[first], **FAST).fit(X, y)
    eta, target = first.outputs["eta"].numpy(), first.batch["y"].double().numpy()
    expected = -stats.norm(eta[:, 0], np.exp(eta[:, 1])).logpdf(target).mean()
    assert first.loss == pytest.approx(expected, rel=1e-5)
    # rows of the batch found by their (unique) y: the scale predictor in training is
    # affine in x2, started at the structured fit (log sd -0.7 + 0.6 x2)
    rows = pd.Series(np.arange(len(y)), index=y.astype(np.float32)).loc[target.astype(np.float32)].to_numpy()
    x2 = X["x2"].to_numpy()[rows]
    slope, intercept = np.polyfit(x2, eta[:, 1], 1)
    assert slope == pytest.approx(0.6, abs=0.2)
    assert intercept == pytest.approx(-0.7, abs=0.25)  # log sd, not the location's intercept (1)
    np.testing.assert_allclose(eta[:, 1], intercept + slope * x2, atol=1e-4)


# -- LateFusion --------------------------------------------------------------------------------
def _late_members():
    return [("clinical", su.DeepSurv(structured=["age", "tsize"], tabular=[])),
            ("nodes", su.DeepSurv(structured=["pnodes", "progrec"], tabular=[]))]


def test_late_fusion_mean_baseline_and_hazards_from_outside(data):
    X, y = data
    model = su.LateFusion(_late_members(), combine="mean").fit(X, y)
    members = np.column_stack([
        CoxPHFitter().fit(X[cols].assign(T=y["time"], E=y["event"]), "T", "E").predict_log_partial_hazard(X[cols])
        for cols in (["age", "tsize"], ["pnodes", "progrec"])
    ])
    eta = model.predict(X)
    # lifelines centres its predictors: the mean combination equals theirs up to a constant
    np.testing.assert_allclose(eta - eta.mean(), members.mean(axis=1) - members.mean(axis=1).mean(), atol=1e-4)
    expected = _breslow(y["time"], y["event"], eta)
    np.testing.assert_allclose(model.baseline_cumulative_hazard_.to_numpy(), expected.to_numpy(), rtol=1e-6)
    times = np.array([300.0, 900.0])
    H0 = expected.reindex(expected.index.union(times)).ffill().loc[times].to_numpy()
    np.testing.assert_allclose(model.predict_cumulative_hazard(X.iloc[:4], times=times).to_numpy(),
                               np.outer(H0, np.exp(eta[:4])), rtol=1e-6)


def test_late_fusion_stacking_is_a_cox_fit_on_out_of_fold_predictions(data):
    X, y = data
    model = su.LateFusion(_late_members(), combine="stacking", cv=3, random_state=0).fit(X, y)
    oof = np.zeros((len(X), 2))
    folds = StratifiedKFold(3, shuffle=True, random_state=0).split(np.zeros(len(y)), y["event"])
    for train, test in folds:
        for k, (_, member) in enumerate(_late_members()):
            oof[test, k] = member.fit(X.iloc[train], y[train]).predict(X.iloc[test])
    frame = pd.DataFrame(oof, columns=["clinical", "nodes"]).assign(T=y["time"], E=y["event"])
    reference = CoxPHFitter().fit(frame, "T", "E")
    np.testing.assert_allclose(model.weights_, reference.params_.to_numpy(), rtol=1e-3)


def test_regressor_deep_loss_adds_the_smoothing_penalty():
    """Mean negative log-likelihood plus 0.5 lambda w' S w / n for each smooth, with the
    structured-only fit's lambda, on the spline weights the network holds at that step."""
    X, y = _heteroscedastic()
    structured = "x1 + s(x2)"
    alone = su.SemiStructuredRegressor(family="normal", structured=structured, tabular=[]).fit(X, y)
    last = FirstBatch(last=True)
    # two-stage: the spline weights stay at the structured fit, so the penalty is not tiny
    model = su.SemiStructuredRegressor(family="normal", structured=structured, tabular=["x3"], callbacks=[last],
                                       deep_strategy="two_stage", validation_fraction=0.0, **FAST).fit(X, y)
    eta, target = last.outputs["eta"].numpy(), last.batch["y"].double().numpy()
    nll = -stats.norm(eta[:, 0], np.exp(eta[:, 1])).logpdf(target).mean()
    weights = last.module.location.structured.weight.detach().double().numpy()[0]
    blocks = model.parts_.designs[0].penalty_blocks
    assert len(blocks) == 1 and len(alone.structured_fit_.smoothing) == 1
    penalty = sum(0.5 * lam * weights[b.columns] @ b.matrix @ weights[b.columns]
                  for lam, b in zip(alone.structured_fit_.smoothing, blocks, strict=True)) / len(y)
    assert penalty > 1e-3 * abs(nll)
    assert last.loss == pytest.approx(nll + penalty, rel=1e-5)
