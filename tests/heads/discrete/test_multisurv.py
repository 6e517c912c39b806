"""MultiSurv (Vale-Silva & Rohr 2021): the grid and arithmetic against pycox, the structured
logistic-hazard fit against statsmodels, and training on several modalities."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import torch
from estimator_configs import dataset
from pycox.models import LogisticHazard
from pycox.preprocessing.label_transforms import LabTransDiscreteTime

import structunstruct as su
from structunstruct.heads.discrete.cuts import quantile_cuts
from structunstruct.metrics import concordance_index_harrell

TRAINING = {"max_epochs": 2, "batch_size": 32, "random_state": 0, "image_size": 14}


@pytest.fixture(scope="module")
def gbsg2():
    return dataset("gbsg2")


@pytest.fixture(scope="module")
def multimodal():
    return su.datasets.make_survival_multimodal(600, random_state=0, return_risk=True)


@pytest.mark.parametrize("n_cuts", [5, 10, 20])
def test_cuts_and_intervals_are_pycox_labtrans_quantiles(n_cuts, gbsg2):
    X, y = gbsg2
    time, event = y["time"].astype(np.float64), y["event"].astype(np.float64)
    labtrans = LabTransDiscreteTime(n_cuts, scheme="quantiles")
    index, event_out = labtrans.fit_transform(time, event)
    np.testing.assert_allclose(quantile_cuts(time, event.astype(bool), n_cuts), labtrans.cuts)
    model = su.MultiSurv(structured=["age", "pnodes"], tabular=[], cuts=n_cuts).fit(X, y)
    np.testing.assert_allclose(model.cuts_, labtrans.cuts)
    head = model._make_head()
    from structunstruct.estimators.base import FitState

    head.prepare(FitState(X, y, model.roles_, model.inputs_, model.inputs_.transform(X), None, 0))
    np.testing.assert_array_equal(head.index, index)
    np.testing.assert_array_equal(head.event, event_out)


def test_survival_function_is_pycox_logistic_hazard_on_the_same_logits(gbsg2):
    X, y = gbsg2
    model = su.MultiSurv(tabular=["age", "pnodes", "tgrade"], cuts=8, max_epochs=2, random_state=0).fit(X, y)
    logits = model._logits(X.iloc[:20]).astype(np.float32)
    identity = torch.nn.Linear(logits.shape[1], logits.shape[1])
    with torch.no_grad():
        identity.weight.copy_(torch.eye(logits.shape[1]))
        identity.bias.zero_()
    reference = LogisticHazard(identity, duration_index=model.cuts_).predict_surv_df(logits)
    ours = model.predict_survival_function(X.iloc[:20])
    np.testing.assert_allclose(ours.index, reference.index)
    np.testing.assert_allclose(ours.to_numpy(), reference.to_numpy(), atol=2e-6)  # pycox adds 1e-7 per cut
    # a step function between the cuts, 1 before the first (explicit) cut
    middle = (model.cuts_[:-1] + model.cuts_[1:]) / 2
    np.testing.assert_allclose(model.predict_survival_function(X.iloc[:20], times=middle).to_numpy(),
                               reference.to_numpy()[:-1], atol=2e-6)
    # the risk score: minus the area under the step survival function up to the last cut
    area = (reference.to_numpy()[:-1] * np.diff(model.cuts_)[:, None]).sum(axis=0)
    np.testing.assert_allclose(model.predict(X.iloc[:20]), -area, rtol=1e-5)


def test_structured_model_is_statsmodels_logistic_regression_on_person_periods(gbsg2):
    """Without a deep part, a Bernoulli GLM on one row per subject and cut at risk, with a
    baseline per cut (here built by hand from pycox's discretization)."""
    X, y = gbsg2
    columns = ["age", "pnodes", "tsize"]
    model = su.MultiSurv(structured=columns, tabular=[], cuts=10).fit(X, y)
    index, event = LabTransDiscreteTime(10, scheme="quantiles").fit_transform(
        y["time"].astype(float), y["event"].astype(float))
    rows, status = [], []
    for i, (k, d) in enumerate(zip(index, event, strict=True)):
        for j in range(k + 1):
            rows.append((i, j))
            status.append(float(d and j == k))
    rows, status = np.array(rows), np.array(status)
    events = np.bincount(rows[status > 0, 1], minlength=10)
    at_risk = np.bincount(rows[:, 1], minlength=10)
    active = np.flatnonzero((events > 0) & (events < at_risk))
    keep = np.isin(rows[:, 1], active)
    dummies = (rows[keep, 1][:, None] == active[None, :]).astype(float)
    design = np.hstack([dummies, X[columns].to_numpy(float)[rows[keep, 0]]])
    reference = sm.GLM(status[keep], design, family=sm.families.Binomial()).fit()
    np.testing.assert_allclose(model.coef_, reference.params[len(active):], rtol=1e-6)
    np.testing.assert_allclose(model.summary_["se"], reference.bse[len(active):], rtol=1e-5)
    assert model.log_likelihood_ == pytest.approx(reference.llf, rel=1e-8)


def test_trains_on_two_images_a_note_and_tabular_columns(multimodal):
    X, y, _ = multimodal
    model = su.MultiSurv(image=["image_a", "image_b"], text="note", **TRAINING).fit(X[:200], y[:200])
    assert set(model.module_.predictor.encoders) == {"tabular", "image:image_a", "image:image_b", "text"}
    fusion = model.module_.predictor.fusion
    assert isinstance(fusion.fusion, su.nn.AttentionFusion) and len(fusion.projections) == 4
    assert len(model.history_) == 2 and model.fusion_layer == "attention"
    surv = model.predict_survival_function(X[200:260], return_array=True)
    assert surv.shape == (60, len(model.cuts_)) and np.isfinite(surv).all()
    assert (np.diff(surv, axis=1) <= 1e-12).all() and np.isfinite(model.predict(X[200:260])).all()


def test_ranks_held_out_rows_after_a_few_epochs():
    X, y = su.datasets.make_survival_multimodal(1000, random_state=0)
    model = su.MultiSurv(image=["image_a", "image_b"], text="note", max_epochs=15, lr=3e-3, batch_size=32,
                         random_state=0).fit(X[:700], y[:700])
    c_index = concordance_index_harrell(y[700:], model.predict(X[700:]))
    assert c_index > 0.6, c_index  # 0.68 measured; DeepSurv 0.71 with the defaults; oracle 0.80


def test_rows_with_missing_modalities(multimodal):
    X, y, _ = multimodal
    X = X[:200].copy()
    X.loc[X.index[::3], "image_a"] = None
    X.loc[X.index[1::4], "note"] = None
    with pytest.raises(ValueError, match="image_a"):
        su.MultiSurv(image=["image_a", "image_b"], text="note", **TRAINING).fit(X, y[:200])
    model = su.MultiSurv(image=["image_a", "image_b"], text="note", missing_modalities="allow",
                         modality_dropout=0.2, **TRAINING).fit(X, y[:200])
    missing = model.module_.predictor.missing
    assert set(missing.embeddings) == {"image:image_a", "image:image_b", "text"}
    assert missing.embeddings["image:image_a"].abs().sum() > 0  # the missing embedding was trained
    risk = model.predict(X)
    assert np.isfinite(risk).all()


@pytest.mark.parametrize("params, error, message", [
    ({"fusion": "late"}, ValueError, "fusion='late' is not supported"),
    ({"cuts": 1}, ValueError, "at least 2 grid points"),
    ({"cuts": [0.0, 5.0, 3.0]}, ValueError, "strictly increasing"),
    ({"cuts": "ten"}, ValueError, "cuts"),
    ({"fusion_layer": "gated"}, ValueError, "known: .*'attention'"),
])
def test_bad_settings_are_refused_before_training(params, error, message, gbsg2):
    X, y = gbsg2
    with pytest.raises(error, match=message):
        su.MultiSurv(tabular=["age"], **params).fit(X, y)


def test_explicit_cuts_and_save_load(gbsg2, tmp_path):
    X, y = gbsg2
    model = su.MultiSurv(structured=["age"], tabular=["pnodes"], cuts=[0.0, 500.0, 1000.0, 2000.0],
                         fusion_layer="sum", max_epochs=2, random_state=0).fit(X, y)
    np.testing.assert_array_equal(model.cuts_, [0.0, 500.0, 1000.0, 2000.0])
    loaded = su.load(model.save(tmp_path / "multisurv"))
    pd.testing.assert_frame_equal(loaded.predict_survival_function(X.iloc[:9]),
                                  model.predict_survival_function(X.iloc[:9]))
    assert list(loaded.summary_.index) == ["age"]


def test_docstring_names_the_paper_and_the_fusion_default():
    assert "Vale-Silva & Rohr" in su.MultiSurv.__doc__
    assert "fusion_layer : str or type, default='attention'" in su.MultiSurv.__doc__
    assert su.MultiSurv().fusion_layer == "attention" and su.DeepSurv().fusion_layer == "concat"
