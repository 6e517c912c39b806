"""Collinear designs raise, separation warns, and the ridge penalizer equals lifelines'.

Every head's classical fit (Cox, the PAMM's Poisson GLM, the distributional Newton
fit) refuses linearly dependent structured columns before training, naming them, and
reports coefficients that diverge (separation / monotone likelihood) with a
``ConvergenceWarning`` naming the column, ``converged_=False`` and a huge standard
error, where the fitters used to return ``converged=True`` and a standard error of
1e-17.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import dummy_frame
from lifelines import CoxPHFitter
from sklearn.exceptions import ConvergenceWarning

import structunstruct as su
from structunstruct.classical.diagnostics import check_identifiable

HUGE_SE = 1e6


@pytest.fixture
def survival_frame():
    rng = np.random.default_rng(3)
    n = 200
    x = rng.normal(size=n)
    z = rng.normal(size=n)
    time = rng.exponential(size=n) * np.exp(-0.5 * x)
    event = rng.random(n) < 0.7
    return pd.DataFrame({"x": x, "z": z}), (time, event)


# -- collinearity --------------------------------------------------------------------------
def _collinear(frame):
    return frame.assign(dup=2 * frame["x"])


def test_cox_collinear_columns_raise_naming_both(survival_frame):
    X, y = survival_frame
    with pytest.raises(ValueError, match=r"\['x', 'dup'\] are linearly dependent"):
        su.DeepSurv(structured=["x", "z", "dup"], tabular=[]).fit(_collinear(X), y)


def test_cox_collinear_raises_before_training(survival_frame):
    X, y = survival_frame
    model = su.DeepSurv(structured=["x", "dup"], tabular=["z"], max_epochs=1)
    with pytest.raises(ValueError, match="linearly dependent"):
        model.fit(_collinear(X), y)
    assert not hasattr(model, "history_")


def test_pamm_collinear_columns_raise_naming_both(survival_frame):
    X, y = survival_frame
    with pytest.raises(ValueError, match=r"\['x', 'dup'\] are linearly dependent"):
        su.DeepPAMM(structured=["x", "z", "dup"], tabular=[], cuts=5).fit(_collinear(X), y)


def test_regressor_collinear_columns_raise_naming_parameter_and_columns(survival_frame):
    X, _ = survival_frame
    y = X["x"].to_numpy() + np.random.default_rng(0).normal(size=len(X))
    with pytest.raises(ValueError, match=r"'scale'.*\['x', 'dup'\] are linearly dependent"):
        su.SemiStructuredRegressor(
            family="normal", structured=["x"], scale=["x", "dup"], tabular=[]
        ).fit(_collinear(X), y)


def test_dependence_on_the_intercept_is_detected():
    """Two indicators that sum to one are dependent given the intercept (or baseline)."""
    a = np.repeat([0.0, 1.0], 50)
    with pytest.raises(ValueError, match=r"\['a', 'not_a'\].*with the intercept"):
        check_identifiable(np.column_stack([a, 1 - a]), ["a", "not_a"])
    check_identifiable(np.column_stack([a, 1 - a]), ["a", "not_a"], intercept=False)


def test_a_penalty_on_the_dependent_direction_makes_it_identifiable():
    x = np.random.default_rng(0).normal(size=100)
    design = np.column_stack([x, 2 * x])
    with pytest.raises(ValueError, match="linearly dependent"):
        check_identifiable(design, ["x", "dup"])
    check_identifiable(design, ["x", "dup"], penalty=np.eye(2))


def test_linear_term_beside_its_own_smooth_is_dependent(survival_frame):
    """The difference penalty of ``s(x)`` leaves its linear trend unpenalized."""
    X, y = survival_frame
    with pytest.raises(ValueError, match=r"\['x', 's\(x\)'\]"):
        su.DeepPAMM(structured="x + s(x)", tabular=[], cuts=5).fit(X, y)


def test_nearly_but_not_exactly_collinear_columns_fit(survival_frame):
    X, y = survival_frame
    X = X.assign(near=X["x"] + 1e-3 * X["z"])
    su.DeepSurv(structured=["x", "near"], tabular=[]).fit(X, y)


# -- separation ----------------------------------------------------------------------------
def _separated_cox(survival_frame):
    """``s`` = 1 exactly for the earlier half of the times (the issue's case)."""
    X, (time, event) = survival_frame
    return X.assign(s=(time < np.median(time)).astype(float)), (time, event)


def test_cox_separation_warns_and_is_not_converged(survival_frame):
    X, y = _separated_cox(survival_frame)
    with pytest.warns(ConvergenceWarning, match=r"\['s'\].*monotone likelihood"):
        model = su.DeepSurv(structured=["s", "z"], tabular=[]).fit(X, y)
    assert not model.converged_
    assert model.summary_.loc["s", "se"] > HUGE_SE
    assert model.summary_.loc["s", "p"] > 0.99
    assert 0.01 < model.summary_.loc["z", "se"] < 1


def test_cox_covariate_ordering_the_times_is_separation(survival_frame):
    """A continuous column equal to minus the time: the likelihood flattens slowly."""
    X, (time, event) = survival_frame
    with pytest.warns(ConvergenceWarning, match=r"\['order'\]"):
        model = su.DeepSurv(structured=["order", "z"], tabular=[]).fit(X.assign(order=-time), (time, event))
    assert not model.converged_
    assert model.summary_.loc["order", "se"] > HUGE_SE


def test_pamm_level_without_events_warns(survival_frame):
    X, (time, event) = survival_frame
    g = (np.arange(len(X)) % 4 == 0).astype(float)
    with pytest.warns(ConvergenceWarning, match=r"\['g'\]"):
        model = su.DeepPAMM(structured=["x", "g"], tabular=[], cuts=5).fit(X.assign(g=g), (time, event & (g == 0)))
    assert not model.converged_
    assert model.summary_.loc["g", "se"] > HUGE_SE
    assert model.summary_.loc["x", "se"] < 1


def test_regressor_perfect_separation_warns():
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"x": rng.normal(size=200), "z": rng.normal(size=200)})
    y = (X["x"] > 0).astype(float).to_numpy()
    with pytest.warns(ConvergenceWarning, match=r"\['x'\]"):
        model = su.SemiStructuredRegressor(family="bernoulli", structured=["x", "z"], tabular=[]).fit(X, y)
    assert not model.converged_
    assert model.summary_.loc[("loc", "x"), "se"] > HUGE_SE


@pytest.mark.parametrize("estimator", ["cox", "pamm", "regressor"])
def test_no_separation_warning_on_a_strong_but_finite_effect(estimator):
    """A hazard ratio of e^3 per unit (or an odds ratio of e^3) is not separation."""
    rng = np.random.default_rng(2)
    n = 300
    X = pd.DataFrame({"x": rng.normal(size=n)})
    time = rng.exponential(size=n) * np.exp(-3 * X["x"].to_numpy())
    event = rng.random(n) < 0.8
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        if estimator == "cox":
            model = su.DeepSurv(structured=["x"], tabular=[]).fit(X, (time, event))
        elif estimator == "pamm":
            model = su.DeepPAMM(structured=["x"], tabular=[], cuts=10).fit(X, (time, event))
        else:
            y = (rng.random(n) < 1 / (1 + np.exp(-3 * X["x"].to_numpy()))).astype(float)
            model = su.SemiStructuredRegressor(family="bernoulli", structured=["x"], tabular=[]).fit(X, y)
    assert model.converged_
    assert (model.summary_["se"] < 1).all()


# -- the ridge penalizer -------------------------------------------------------------------
@pytest.mark.parametrize("penalizer", [0.1, 0.01])
def test_penalizer_matches_lifelines(gbsg2, penalizer):
    X, y = gbsg2
    model = su.DeepSurv(structured=list(X.columns), tabular=[], penalizer=penalizer).fit(X, y)
    design = dummy_frame(X)
    frame = design.assign(T=y["time"], E=y["event"].astype(int))
    reference = CoxPHFitter(penalizer=penalizer, l1_ratio=0.0).fit(
        frame, "T", "E", fit_options={"precision": 1e-10}
    )
    ref = reference.summary.loc[list(design.columns)]
    ours = model.summary_.loc[list(design.columns)]
    np.testing.assert_allclose(ours["coef"], ref["coef"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(ours["se"], ref["se(coef)"], rtol=1e-4)
    unpenalized = su.DeepSurv(structured=list(X.columns), tabular=[]).fit(X, y)
    assert np.abs(ours["coef"] - unpenalized.summary_["coef"]).max() > 1e-3  # it does something


def test_penalizer_makes_collinear_and_separated_columns_finite(survival_frame):
    X, y = _separated_cox(survival_frame)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = su.DeepSurv(structured=["x", "dup", "s"], tabular=[], penalizer=0.1).fit(_collinear(X), y)
    coef = model.summary_["coef"]
    assert model.converged_
    np.testing.assert_allclose(coef["x"], 2 * coef["dup"], rtol=1e-6)  # the ridge splits by scale
    assert abs(coef["s"]) < 5


def test_penalizer_is_validated():
    with pytest.raises(ValueError, match="penalizer"):
        su.DeepSurv(structured=["x"], tabular=[], penalizer=-1.0).fit(
            pd.DataFrame({"x": [1.0, 2.0, 3.0]}), (np.array([1.0, 2.0, 3.0]), np.ones(3, bool))
        )


def test_pamm_penalizer_splits_collinear_columns_by_scale_and_shrinks(survival_frame):
    X, y = survival_frame
    X = _collinear(X)
    plain = su.DeepPAMM(structured=["x", "z"], tabular=[], cuts=5).fit(X, y)
    ridge = su.DeepPAMM(structured=["x", "z", "dup"], tabular=[], cuts=5, penalizer=0.01).fit(X, y)
    coef = ridge.summary_["coef"]
    np.testing.assert_allclose(coef["x"], 2 * coef["dup"], rtol=1e-6)
    total = coef["x"] + 2 * coef["dup"]  # the effect of x, shared by the two columns
    assert abs(total) < abs(plain.summary_.loc["x", "coef"])
    assert abs(total - plain.summary_.loc["x", "coef"]) < 0.2


def test_regressor_penalizer_solves_the_ridge_score_equation():
    """At the ridge-penalized normal ML fit with a constant scale, the score of each
    standardized slope equals the ridge term: ``X_s' (y - mu) / sigma^2 = lam * b_s`` with
    ``lam = n^2 c / (n - 1)`` (lifelines' ``n c / 2 ||b||^2`` on ``ddof=1`` units)."""
    rng = np.random.default_rng(4)
    n, c = 120, 0.05
    X = pd.DataFrame({"x": rng.normal(2, 3, n), "z": rng.normal(size=n)})
    y = 1 + 0.5 * X["x"].to_numpy() - X["z"].to_numpy() + rng.normal(size=n)
    model = su.SemiStructuredRegressor(family="normal", structured=["x", "z"], tabular=[], penalizer=c).fit(X, y)
    loc = model.summary_.loc["loc", "coef"]
    sigma = np.exp(model.summary_.loc[("scale", "Intercept"), "coef"])
    residual = y - (loc["Intercept"] + X[["x", "z"]].to_numpy() @ loc[["x", "z"]].to_numpy())
    sd0 = X[["x", "z"]].std(ddof=0).to_numpy()
    standardized = (X[["x", "z"]] - X[["x", "z"]].mean()).to_numpy() / sd0
    score = standardized.T @ residual / sigma**2
    np.testing.assert_allclose(score, n * n * c / (n - 1) * loc[["x", "z"]].to_numpy() * sd0, rtol=1e-5)
    assert abs(residual.sum()) < 1e-6 * n  # the intercept is not penalized
    plain = su.SemiStructuredRegressor(family="normal", structured=["x", "z"], tabular=[]).fit(X, y)
    assert np.all(np.abs(loc[["x", "z"]]) < np.abs(plain.summary_.loc["loc", "coef"][["x", "z"]]))


@pytest.mark.parametrize("estimator", [su.DeepPAMM, su.SemiStructuredRegressor])
def test_other_penalizers_are_validated(estimator):
    with pytest.raises(ValueError, match="penalizer"):
        estimator(structured=["x"], tabular=[], penalizer=-0.5).fit(
            pd.DataFrame({"x": [1.0, 2.0, 3.0]}), (np.array([1.0, 2.0, 3.0]), np.ones(3, bool))
        )
