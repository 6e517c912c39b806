"""DeepPAMM: the classical PAMM against statsmodels and Cox, simulations, deep parts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from helpers import dummy_frame
from threadpoolctl import threadpool_limits

import structunstruct as su
from structunstruct.data import make_survival_target
from structunstruct.estimators.pamm import DeepPAMM
from structunstruct.heads.pamm.ped import split_ped
from structunstruct.metrics import integrated_brier_score

GBSG2_TERMS = ["age", "pnodes", "tsize", "horTh", "tgrade"]
VETERANS_TERMS = ["Age_in_years", "Karnofsky_score", "Celltype", "Treatment"]
WHAS_TERMS = ["age", "bmi", "hr", "gender", "chf"]


@pytest.fixture(autouse=True)
def _single_blas_thread():
    """Tall-skinny products are fastest on one BLAS thread on a shared 2-core box."""
    with threadpool_limits(1):
        yield


def _statsmodels_ped_fit(X, y, terms, cuts):
    ped = split_ped(y["time"], y["event"], cuts)
    design = dummy_frame(X[terms]).to_numpy()
    K = len(cuts) - 1
    Z = np.column_stack([np.eye(K)[ped.interval], design[ped.subject]])
    fit = sm.GLM(ped.status, Z, family=sm.families.Poisson(), offset=np.log(ped.exposure))
    return fit.fit(tol=1e-12), K


# -- 1. the classical PAMM is the Poisson GLM on the PED -------------------------------------
@pytest.mark.parametrize(
    ("loader", "terms", "cuts"),
    [
        (su.datasets.load_gbsg2, GBSG2_TERMS, 12),
        (su.datasets.load_veterans, VETERANS_TERMS, [0, 20, 50, 100, 150, 250, 400, 1000]),
    ],
    ids=["gbsg2", "veterans"],
)
def test_piecewise_equals_statsmodels_poisson_glm(loader, terms, cuts):
    X, y = loader()
    model = DeepPAMM(structured=terms, tabular=[], cuts=cuts).fit(X, y)
    ref, K = _statsmodels_ped_fit(X, y, terms, model.cuts_)
    assert model.converged_
    assert list(model.summary_.index) == list(dummy_frame(X[terms]).columns)
    np.testing.assert_allclose(model.coef_, ref.params[K:], atol=1e-5)
    np.testing.assert_allclose(model.summary_["se"], ref.bse[K:], rtol=1e-3)
    np.testing.assert_allclose(model.log_likelihood_, ref.llf, rtol=1e-8)
    # the baseline is reported at the training means of the structured design
    center = dummy_frame(X[terms]).to_numpy().mean(axis=0)
    expected = np.exp(ref.params[:K] + center @ ref.params[K:])
    np.testing.assert_allclose(model.baseline_hazard_.to_numpy(), expected, rtol=1e-5)


@pytest.mark.parametrize(
    ("loader", "terms"),
    [(su.datasets.load_veterans, VETERANS_TERMS), (su.datasets.load_whas500, WHAS_TERMS)],
    ids=["veterans", "whas500"],
)
def test_cuts_at_all_times_reproduce_breslow_cox(loader, terms):
    X, y = loader()
    cuts = np.unique(y["time"])
    pamm = DeepPAMM(structured=terms, tabular=[], cuts=cuts).fit(X, y)
    cox = su.DeepSurv(structured=terms, tabular=[], ties="breslow").fit(X, y)
    np.testing.assert_allclose(pamm.coef_, cox.coef_, atol=1e-6)
    np.testing.assert_allclose(pamm.summary_["se"], cox.summary_["se"], rtol=1e-4)
    # intervals that end at a censoring time carry no event: hazard 0 there (the MLE)
    assert (pamm.baseline_hazard_ == 0).any()


# -- predictions ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gbsg2_model(gbsg2):
    X, y = gbsg2
    with threadpool_limits(1):
        return DeepPAMM(structured="age + horTh + pnodes + s(tsize)", tabular=[], cuts=10).fit(X, y)


def test_predictions_are_consistent(gbsg2_model, gbsg2):
    X, y = gbsg2
    rows = X.iloc[:6]
    model = gbsg2_model
    cumhaz = model.predict_cumulative_hazard(rows)
    assert cumhaz.index.name == "time" and list(cumhaz.columns) == list(rows.index)
    np.testing.assert_allclose(cumhaz.index, model.cuts_)
    hazard = model.predict_hazard(rows)
    np.testing.assert_allclose(np.diff(cumhaz.to_numpy(), axis=0), hazard.to_numpy() * np.diff(model.cuts_)[:, None])
    surv = model.predict_survival_function(rows, times=[0.0, 500.0, 1000.0])
    np.testing.assert_allclose(surv.iloc[0], 1.0)
    assert (np.diff(surv.to_numpy(), axis=0) <= 0).all()
    median = model.predict_median(rows)
    finite = np.isfinite(median)
    at_median = model.predict_survival_function(rows.loc[finite], times=median[finite])
    np.testing.assert_allclose(np.diag(at_median.to_numpy()), 0.5, rtol=1e-8)
    # proportional hazards: the risk score moves with a covariate by its coefficient
    risk = model.predict(rows)
    older = model.predict(rows.assign(age=rows["age"] + 10))
    np.testing.assert_allclose(older - risk, 10 * model.summary_.loc["age", "coef"], rtol=1e-8)
    nodes = model.predict(rows.assign(pnodes=rows["pnodes"] + 3))
    np.testing.assert_allclose(nodes - risk, 3 * model.summary_.loc["pnodes", "coef"], rtol=1e-8)
    assert model.summary_.loc["pnodes", "coef"] > 0.03  # more nodes, higher hazard
    assert 0.6 < model.score(X, y) < 0.8


def test_summary_and_smooth_partial_effect(gbsg2_model):
    model = gbsg2_model
    assert list(model.summary_.index) == ["age", "horTh[yes]", "pnodes"]
    assert list(model.summary_.columns) == ["coef", "exp(coef)", "se", "lower 95%", "upper 95%", "z", "p"]
    effect = model.partial_effect("s(tsize)")
    assert effect.shape == (100, 4) and effect.index.name == "tsize"
    assert (effect["lower 95%"] <= effect["effect"]).all() and (effect["se"] > 0).all()
    assert 1.0 < model.edf_["s(tsize)"] < 9.0
    base = model.partial_effect("baseline")
    np.testing.assert_allclose(np.exp(base["effect"]), model.baseline_hazard_.to_numpy())
    with pytest.raises(ValueError, match="unknown term"):
        model.partial_effect("s(age)")


# -- 2. non-proportional hazards --------------------------------------------------------------
def _true_beta(t):
    return np.cos(np.pi * t / 8)


def _simulate_time_varying(n, rng):
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    grid = np.linspace(0, 10, 1001)
    mid = (grid[:-1] + grid[1:]) / 2
    hazard = 0.15 * np.exp(np.outer(x1, _true_beta(mid)) + 0.5 * x2[:, None])
    cumulative = np.concatenate([np.zeros((n, 1)), np.cumsum(hazard * np.diff(grid), axis=1)], axis=1)
    t = grid[np.minimum((cumulative < rng.exponential(size=n)[:, None]).sum(axis=1), 1000)]
    censor = rng.uniform(2, 15, size=n)
    time = np.minimum(np.minimum(t, censor), 10.0)
    return pd.DataFrame({"x1": x1, "x2": x2}), make_survival_target(time, (t <= censor) & (t < 10))


def test_time_varying_effect_is_recovered_and_beats_cox():
    rng = np.random.default_rng(7)
    X, y = _simulate_time_varying(600, rng)
    X_test, y_test = _simulate_time_varying(600, rng)
    pamm = DeepPAMM(
        structured=["x1", "x2"], tabular=[], cuts=20, baseline="spline", time_varying=["x1"]
    ).fit(X, y)
    grid = np.linspace(0.5, 9.0, 60)
    effect = pamm.partial_effect("x1(t)", grid)
    ise = np.trapezoid((effect["effect"] - _true_beta(grid)) ** 2, grid)
    ise_constant = np.trapezoid((pamm.coef_[0] - _true_beta(grid)) ** 2, grid)
    assert ise < 0.5 and ise < 0.1 * ise_constant
    covered = (effect["lower 95%"] <= _true_beta(grid)) & (_true_beta(grid) <= effect["upper 95%"])
    assert covered.mean() > 0.6
    cox = su.DeepSurv(structured=["x1", "x2"], tabular=[]).fit(X, y)
    times = np.linspace(0.5, 8.5, 40)
    ibs_pamm = integrated_brier_score(y_test, pamm.predict_survival_function(X_test, times), y_train=y)
    ibs_cox = integrated_brier_score(y_test, cox.predict_survival_function(X_test, times), y_train=y)
    assert ibs_pamm < ibs_cox - 0.003


def test_time_varying_needs_a_structured_term():
    X, y = _simulate_time_varying(100, np.random.default_rng(0))
    with pytest.raises(ValueError, match="linear structured term"):
        DeepPAMM(structured=["x2"], tabular=[], time_varying=["x1"]).fit(X, y)


# -- 3. random intercepts -------------------------------------------------------------------
def test_random_intercept_variance_is_recovered():
    rng = np.random.default_rng(11)
    n_groups, per_group, sd = 30, 80, 0.7
    effects = rng.normal(size=n_groups)
    effects = (effects - effects.mean()) / effects.std() * sd  # realised variance = sd**2
    group = np.repeat(np.arange(n_groups), per_group)
    x = rng.normal(size=len(group))
    t = rng.exponential(1 / (0.2 * np.exp(0.5 * x + effects[group])))
    censor = rng.uniform(0, 10, size=len(group))
    X = pd.DataFrame({"x": x, "center": [f"c{g:02d}" for g in group]})
    y = make_survival_target(np.minimum(t, censor), t <= censor)
    model = DeepPAMM(structured=["x"], tabular=[], cuts=10, random_effects="center").fit(X, y)
    assert model.random_effect_variance_ == pytest.approx(sd**2, rel=0.2)
    assert np.corrcoef(model.random_effects_.to_numpy(), effects)[0, 1] > 0.9
    assert model.coef_[0] == pytest.approx(0.5, abs=0.1)
    new = pd.DataFrame({"x": [0.0, 0.0], "center": ["c00", "unseen"]})
    risk = model.predict(new)
    assert risk[0] - risk[1] == pytest.approx(model.random_effects_["c00"], abs=1e-10)


def test_default_tabular_leaves_out_the_grouping_column():
    """A grouping label is not a deep covariate (and with many levels not free text)."""
    rng = np.random.default_rng(3)
    n = 120
    X = pd.DataFrame({"x": rng.normal(size=n), "patient": [f"p{i // 2:03d}" for i in range(n)]})
    y = make_survival_target(rng.exponential(1.0, n), rng.random(n) < 0.8)
    model = DeepPAMM(structured=["x"], cuts=4, random_effects="patient", hidden_layers=(4,),
                     max_epochs=1, random_state=0).fit(X, y)
    assert model.roles_.tabular == ("x",)
    assert len(model.random_effects_) == n // 2


# -- deep parts -------------------------------------------------------------------------------
FAST = {"max_epochs": 3, "batch_size": 64, "random_state": 0}


def test_deep_tabular_with_orthogonalization(gbsg2):
    X, y = gbsg2
    X, y = X.iloc[:300], y[:300]
    model = DeepPAMM(
        structured=["age", "horTh"], tabular=["pnodes", "tgrade", "progrec"],
        orthogonalize=True, cuts=8, **FAST,
    ).fit(X, y)
    assert len(model.history_) >= 1 and model.module_.has_deep_part
    assert list(model.summary_.index) == ["age", "horTh[yes]"]
    assert np.isfinite(model.summary_["se"]).all()
    surv = model.predict_survival_function(X.iloc[:5])
    assert surv.shape == (len(model.cuts_), 5)
    again = DeepPAMM(
        structured=["age", "horTh"], tabular=["pnodes", "tgrade", "progrec"],
        orthogonalize=True, cuts=8, **FAST,
    ).fit(X, y)
    np.testing.assert_allclose(model.predict(X.iloc[:20]), again.predict(X.iloc[:20]), rtol=1e-5)


def test_image_part_trains():
    X, y = su.datasets.make_survival_images(n=120, random_state=0)
    model = DeepPAMM(
        structured=["age"] if "age" in X.columns else None, tabular=[], image="image",
        cuts=5, baseline="piecewise", **FAST,
    ).fit(X, y)
    assert model.predict_hazard(X.iloc[:4]).shape == (5, 4)


def test_invalid_parameters_raise(gbsg2):
    X, y = gbsg2
    with pytest.raises(ValueError, match="baseline"):
        DeepPAMM(structured=["age"], tabular=[], baseline="weibull").fit(X, y)
    with pytest.raises(ValueError, match="random_effects column"):
        DeepPAMM(structured=["age"], tabular=[], random_effects="site").fit(X, y)
