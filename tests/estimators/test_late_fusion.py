"""Late fusion: LateFusion (log-risks averaged or stacked) and fusion="late" on every estimator."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

import structunstruct as su
from structunstruct.metrics import concordance_index_harrell

TAB = ["age", "sex", "biomarker", "noise1", "noise2"]


@pytest.fixture(scope="module")
def images():
    return su.datasets.make_survival_images(n=900, random_state=5, return_risk=True)


def _members():
    return [
        ("tabular", su.DeepSurv(structured=TAB, tabular=[])),
        ("image", su.DeepSurv(image="image", tabular=[], max_epochs=15, random_state=0)),
    ]


def test_mean_combination_averages_member_log_risks(images):
    X, y, _ = images
    model = su.LateFusion(_members(), combine="mean").fit(X[:600], y[:600])
    members = np.column_stack([est.predict(X[600:]) for _, est in model.estimators_])
    np.testing.assert_allclose(model.predict(X[600:]), members.mean(axis=1), rtol=1e-10)
    surv = model.predict_survival_function(X[600:610])
    assert surv.shape[1] == 10 and (np.diff(surv.to_numpy(), axis=0) <= 1e-12).all()


def test_stacking_weights_both_modalities_and_beats_each_member(images):
    X, y, risk = images
    train, test = slice(0, 600), slice(600, None)
    model = su.LateFusion(_members(), combine="stacking", cv=3, random_state=0).fit(X[train], y[train])
    assert list(model.stacking_summary_.index) == ["tabular", "image"]
    # the true log hazard is the sum of the tabular and the image part: each member
    # estimates its own part, so both weights are near 1 (measured 1.00 and 1.04)
    assert ((model.weights_ > 0.6) & (model.weights_ < 1.5)).all()
    c_late = concordance_index_harrell(y[test], model.predict(X[test]))
    c_members = [concordance_index_harrell(y[test], member.predict(X[test])) for _, member in model.estimators_]
    c_oracle = concordance_index_harrell(y[test], risk[test])
    # stacking closes part of the gap from the best member to the true risk (measured:
    # members 0.681 and 0.617, stacked 0.724, oracle 0.764: 52%); above the oracle is leakage
    assert c_late - max(c_members) > 0.25 * (c_oracle - max(c_members))
    assert c_late < c_oracle + 0.01


def test_clone_and_bad_combine(images):
    X, y, _ = images
    model = su.LateFusion(_members(), combine="median")
    assert clone(model).get_params()["combine"] == "median"
    with pytest.raises(ValueError, match="'combine' parameter"):
        model.fit(X, y)


def test_fusion_late_on_deepsurv_averages_one_model_per_modality():
    """``DeepSurv(fusion="late")`` fits a tabular and an image DeepSurv with the same
    settings and averages their log-risks: it equals LateFusion(combine="mean") on
    those two members, and its summary_ holds the tabular effects times 1/2."""
    X, y = su.datasets.make_survival_images(n=400, random_state=3)
    settings = dict(max_epochs=3, random_state=0, image_size=14)
    late = su.DeepSurv(structured=["age"], tabular=["sex"], image="image", fusion="late", **settings).fit(X, y)
    members = [
        ("tabular", su.DeepSurv(structured=["age"], tabular=["sex"], **settings)),
        ("image", su.DeepSurv(image="image", tabular=[], **settings)),
    ]
    reference = su.LateFusion(members, combine="mean").fit(X, y)
    np.testing.assert_allclose(late.predict(X), reference.predict(X), rtol=1e-5, atol=1e-6)
    tabular = dict(reference.estimators_)["tabular"]
    assert late.summary_.loc["age", "coef"] == pytest.approx(tabular.summary_.loc["age", "coef"] / 2)
    assert late.predict_survival_function(X.iloc[:5]).shape[1] == 5


def test_fusion_late_needs_two_modalities():
    X, y = su.datasets.make_survival_images(n=100, random_state=0)
    with pytest.raises(ValueError, match="fusion='late' fits one model per modality"):
        su.DeepSurv(image="image", tabular=[], fusion="late").fit(X, y)


# -- fusion="late" on DeepPAMM and SemiStructuredRegressor: the combination rules ----------
LATE = dict(image="image", fusion="late", image_size=14, max_epochs=2, batch_size=32, random_state=0)


@pytest.fixture(scope="module")
def late_pamm():
    X, y = su.datasets.make_survival_images(n=160, random_state=1)
    return su.DeepPAMM(structured=["age", "sex", "biomarker"], tabular=[], cuts=5, **LATE).fit(X, y), X


def _piecewise_cumulative_hazard(hazard: np.ndarray, cuts: np.ndarray, t: float) -> np.ndarray:
    """``H(t) = sum_k h_k |[c_k, c_{k+1}] ∩ [0, t]|``, the last interval open to the right."""
    total = np.zeros(hazard.shape[1])
    for k in range(len(cuts) - 1):
        end = t if k == len(cuts) - 2 else min(t, cuts[k + 1])
        total += hazard[k] * max(0.0, end - cuts[k])
    return total


def test_late_pamm_averages_member_interval_log_hazards(late_pamm):
    """The combined hazard of each interval is the geometric mean of the members'
    hazards (log hazards averaged, weights 1/2), on the members' common cut points;
    cumulative hazard, survival and risk follow from it by integration."""
    model, X = late_pamm
    rows = X.iloc[:8]
    members = [member for _, member in model.late_.estimators_]
    assert [name for name, _ in model.late_.estimators_] == ["tabular", "image"]
    cuts = model.cuts_
    for member in members:
        np.testing.assert_array_equal(member.cuts_, cuts)
    middles = (cuts[:-1] + cuts[1:]) / 2
    member_log = [np.log(member.predict_hazard(rows, times=middles).to_numpy()) for member in members]
    hazard = np.exp((member_log[0] + member_log[1]) / 2)  # (K, rows)
    np.testing.assert_allclose(np.exp(model._interval_log_hazard(rows)), hazard, rtol=1e-10)
    grid = np.array([0.0, cuts[1] / 3, cuts[2], (cuts[2] + cuts[3]) / 2, cuts[-1], cuts[-1] * 1.5])
    by_hand = np.array([_piecewise_cumulative_hazard(hazard, cuts, t) for t in grid])
    np.testing.assert_allclose(model.predict_cumulative_hazard(rows, times=grid).to_numpy(), by_hand,
                               rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(model.predict_survival_function(rows, times=grid).to_numpy(), np.exp(-by_hand),
                               rtol=1e-10)
    np.testing.assert_allclose(model.predict(rows), np.log(by_hand[4]), rtol=1e-10)


def test_late_pamm_baseline_and_summary_are_the_members_scaled(late_pamm):
    model, _ = late_pamm
    tabular, image = (member for _, member in model.late_.estimators_)
    np.testing.assert_allclose(
        model.baseline_hazard_.to_numpy(),
        np.sqrt(tabular.baseline_hazard_.to_numpy() * image.baseline_hazard_.to_numpy()), rtol=1e-10)
    widths = np.diff(model.cuts_)
    np.testing.assert_allclose(model.baseline_cumulative_hazard_.to_numpy()[1:],
                               np.cumsum(model.baseline_hazard_.to_numpy() * widths), rtol=1e-10)
    _check_summary_is_half_the_tabular_members(model, tabular, exponentiate=True)


def _check_summary_is_half_the_tabular_members(model, tabular, exponentiate: bool) -> None:
    """summary_ = the tabular member's effects times its weight 1/2 (z and p unchanged)."""
    expected = tabular.summary_
    assert list(model.summary_.index) == list(expected.index) and len(expected)
    for column in ("coef", "se", "lower 95%", "upper 95%"):
        np.testing.assert_allclose(model.summary_[column], expected[column] / 2, rtol=1e-12)
    if exponentiate:
        np.testing.assert_allclose(model.summary_["exp(coef)"], np.exp(expected["coef"] / 2), rtol=1e-12)
    np.testing.assert_allclose(model.summary_["z"], expected["z"], rtol=1e-12)


@pytest.fixture(scope="module")
def late_regressor():
    X, y = su.datasets.make_regression_images(160, random_state=1)
    model = su.SemiStructuredRegressor(structured=["x1", "sex"], tabular=["x2"], scale="x1", **LATE)
    return model.fit(X, y), X


def test_late_regressor_averages_member_predictors_per_parameter(late_regressor):
    """Normal family: the location (identity link) is the mean of the members' means,
    the sd (log link) the geometric mean of their sds; the prediction is the mean of
    the members' predictions."""
    model, X = late_regressor
    rows = X.iloc[:8]
    assert [name for name, _ in model.late_.estimators_] == ["tabular", "image"]
    members = [member.predict_distribution(rows) for _, member in model.late_.estimators_]
    combined = model.predict_distribution(rows)
    assert list(combined.columns) == ["loc", "scale"]
    np.testing.assert_allclose(combined["loc"], (members[0]["loc"] + members[1]["loc"]) / 2, rtol=1e-10)
    np.testing.assert_allclose(combined["scale"], np.sqrt(members[0]["scale"] * members[1]["scale"]), rtol=1e-10)
    member_means = [member.predict(rows) for _, member in model.late_.estimators_]
    np.testing.assert_allclose(model.predict(rows), np.mean(member_means, axis=0), rtol=1e-10)
    lower, upper = model.predict_interval(rows, coverage=0.9).T
    half_width = 1.6448536269514722 * combined["scale"].to_numpy()  # normal 95% quantile
    np.testing.assert_allclose(upper - lower, 2 * half_width, rtol=1e-8)


def test_late_regressor_summary_is_the_tabular_members_scaled(late_regressor):
    model, _ = late_regressor
    tabular = dict(model.late_.estimators_)["tabular"]
    _check_summary_is_half_the_tabular_members(model, tabular, exponentiate=False)
    assert model.intercept_ == pytest.approx(tabular.intercept_ / 2, rel=1e-12)
    np.testing.assert_allclose(model.coef_, tabular.coef_ / 2, rtol=1e-12)


@pytest.mark.parametrize("estimator", [su.DeepPAMM, su.SemiStructuredRegressor])
def test_late_needs_two_modalities_on_every_estimator(estimator):
    X, y = su.datasets.make_survival_images(n=60, random_state=0)
    if estimator is su.SemiStructuredRegressor:
        y = y["time"]
    with pytest.raises(ValueError, match="fusion='late' fits one model per modality"):
        estimator(image="image", tabular=[], fusion="late").fit(X, y)
