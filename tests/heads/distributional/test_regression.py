"""SemiStructuredRegressor: classical agreement, smooths, calibration, deep strategies."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from sklearn.base import clone

import structunstruct as su


def _frame(rng, n):
    return pd.DataFrame({
        "x1": rng.normal(size=n), "x2": rng.normal(2, 3, size=n),
        "g": pd.Categorical(rng.choice(["a", "b", "c"], n)), "z": rng.uniform(-3, 3, n),
    })


def _ols_design(X):
    return sm.add_constant(pd.get_dummies(X[["x1", "x2", "g"]], columns=["g"], drop_first=True, dtype=float))


def test_normal_equals_statsmodels_ols(rng):
    X = _frame(rng, 200)
    y = 1 + 0.5 * X.x1 - 0.3 * X.x2 + np.where(X.g == "b", 0.7, 0.0) + rng.normal(size=200)
    model = su.SemiStructuredRegressor(structured="x1 + x2 + g", tabular=[]).fit(X, y)
    ols = sm.OLS(y, _ols_design(X)).fit()
    loc = model.summary_.loc["loc"]
    assert list(loc.index) == ["Intercept", "x1", "x2", "g[b]", "g[c]"]
    np.testing.assert_allclose(loc["coef"].to_numpy(), ols.params.to_numpy(), atol=1e-5)
    # ML standard errors use RSS / n instead of RSS / (n - p)
    n, p = ols.nobs, len(ols.params)
    np.testing.assert_allclose(loc["se"].to_numpy(), ols.bse.to_numpy() * np.sqrt((n - p) / n), rtol=1e-4)
    assert np.exp(model.summary_.loc[("scale", "Intercept"), "coef"]) == pytest.approx(np.sqrt(ols.ssr / n), rel=1e-6)
    assert model.log_likelihood(X, y) == pytest.approx(ols.llf, rel=1e-8)
    assert model.score(X, y) == pytest.approx(ols.rsquared, rel=1e-8)


@pytest.mark.parametrize(
    ("family", "sm_family", "simulate"),
    [
        ("poisson", sm.families.Poisson(), lambda rng, mu: rng.poisson(mu).astype(float)),
        ("gamma", sm.families.Gamma(sm.families.links.Log()), lambda rng, mu: rng.gamma(2.0, mu / 2.0)),
    ],
)
def test_glm_families_equal_statsmodels(rng, family, sm_family, simulate):
    X = _frame(rng, 300)
    mu = np.exp(0.5 + 0.3 * X.x1 - 0.1 * X.x2 + np.where(X.g == "c", -0.4, 0.0))
    y = simulate(rng, mu)
    model = su.SemiStructuredRegressor(structured=["x1", "x2", "g"], tabular=[], family=family).fit(X, y)
    glm = sm.GLM(y, _ols_design(X), family=sm_family).fit(tol=1e-12)
    np.testing.assert_allclose(model.summary_.loc["loc", "coef"].to_numpy(), glm.params.to_numpy(), atol=1e-5)
    np.testing.assert_allclose(model.predict(X), glm.fittedvalues, rtol=1e-5)
    if family == "poisson":  # no dispersion: identical observed (= expected) information
        np.testing.assert_allclose(model.summary_.loc["loc", "se"].to_numpy(), glm.bse.to_numpy(), rtol=1e-5)


def test_bernoulli_equals_statsmodels_logit(rng):
    X = _frame(rng, 300)
    y = (rng.random(300) < 1 / (1 + np.exp(-(0.2 + X.x1)))).astype(float)
    model = su.SemiStructuredRegressor(structured=["x1", "x2"], tabular=[], family="bernoulli").fit(X, y)
    logit = sm.Logit(y, sm.add_constant(X[["x1", "x2"]])).fit(disp=0, tol=1e-12)
    np.testing.assert_allclose(model.coef_, logit.params.to_numpy()[1:], atol=1e-5)


def test_smooth_term_recovers_sine(rng):
    n = 500
    X = pd.DataFrame({"z": rng.uniform(-np.pi, np.pi, n)})
    y = np.sin(X.z) + rng.normal(0, 0.3, n)
    model = su.SemiStructuredRegressor(structured="s(z, df=6)", tabular=[]).fit(X, y)
    effect = model.partial_effect("s(z)", n_points=201)
    truth = np.sin(effect.z)
    truth = truth - np.mean(np.sin(X.z))  # the smooth is centred over the training data
    ise = np.trapezoid((effect.effect - truth) ** 2, effect.z) / (2 * np.pi)
    assert ise < 0.005  # mean squared error over the range; the sine's variance is 0.5
    covered = ((effect["lower 95%"] <= truth) & (truth <= effect["upper 95%"])).mean()
    assert covered > 0.8
    assert model.structured_fit_.edf == pytest.approx(1 + 6 + 1, abs=0.3)  # intercept, s(z), scale


def test_heteroscedastic_intervals_are_calibrated(rng):
    def simulate(n):
        X = pd.DataFrame({"x1": rng.uniform(-2, 2, n)})
        return X, 1 + X.x1 + np.exp(0.6 * X.x1) * rng.normal(size=n)

    X, y = simulate(1000)
    X_test, y_test = simulate(20000)
    right = su.SemiStructuredRegressor(structured=["x1"], tabular=[], scale=["x1"]).fit(X, y)
    wrong = su.SemiStructuredRegressor(structured=["x1"], tabular=[]).fit(X, y)
    assert right.summary_.loc[("scale", "x1"), "coef"] == pytest.approx(0.6, abs=0.1)
    high = X_test.x1.to_numpy() > 1

    def coverage(model, rows):
        lower, upper = model.predict_interval(X_test[rows]).T
        return np.mean((y_test[rows] >= lower) & (y_test[rows] <= upper))

    everywhere = np.ones(len(X_test), dtype=bool)
    assert 0.88 <= coverage(right, everywhere) <= 0.92
    assert 0.87 <= coverage(right, high) <= 0.93
    assert coverage(wrong, high) < 0.80  # a constant scale under-covers where the noise is large
    assert right.log_likelihood(X_test, y_test) > wrong.log_likelihood(X_test, y_test)


@pytest.mark.parametrize(
    ("family", "truth", "simulate"),
    [
        ("student_t", 1.0, lambda rng, eta: eta + rng.standard_t(4, len(eta))),
        ("laplace", 1.0, lambda rng, eta: eta + rng.laplace(0, 1, len(eta))),
        ("lognormal", 1.0, lambda rng, eta: np.exp(eta + 0.5 * rng.normal(size=len(eta)))),
        ("negbin", 0.5, lambda rng, eta: rng.negative_binomial(2, 2 / (2 + np.exp(0.5 * eta))).astype(float)),
        ("beta", 0.5, lambda rng, eta: rng.beta(5 / (1 + np.exp(-0.5 * eta)), 5 / (1 + np.exp(0.5 * eta)))),
    ],
)
def test_other_families_recover_location_effect(rng, family, truth, simulate):
    X = pd.DataFrame({"x1": rng.normal(size=1000)})
    y = simulate(rng, X.x1.to_numpy())
    model = su.SemiStructuredRegressor(structured=["x1"], tabular=[], family=family).fit(X, y)
    assert model.converged_
    row = model.summary_.loc[("loc", "x1")]
    assert abs(row["coef"] - truth) < 4 * row["se"]
    quantiles = model.predict_quantile(X.iloc[:5], [0.1, 0.5, 0.9])
    assert quantiles.shape == (5, 3) and (np.diff(quantiles, axis=1) >= 0).all()


def test_parameter_errors(rng):
    X = _frame(rng, 50)
    y = rng.normal(size=50)
    with pytest.raises(ValueError, match="unknown family 'gauss'.*normal"):
        su.SemiStructuredRegressor(family="gauss", tabular=[], structured=["x1"]).fit(X, y)
    with pytest.raises(ValueError, match="family 'poisson' has no 'scale' parameter"):
        su.SemiStructuredRegressor(family="poisson", tabular=[], structured=["x1"], scale=["x2"]).fit(X, np.abs(y).round())
    with pytest.raises(ValueError, match="set orthogonalize=False"):
        su.SemiStructuredRegressor(structured=["x1"], deep_strategy="post_hoc", orthogonalize=True).fit(X, y)
    with pytest.raises(ValueError, match="deep_strategy"):
        su.SemiStructuredRegressor(structured=["x1"], deep_strategy="stacked").fit(X, y)


def _wide_and_deep(rng, n=300):
    X = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n)})
    y = 1 + X.x1 - 0.5 * X.x2 + np.sin(2 * X.x1) + 0.5 * X.x2**2 + 0.5 * rng.normal(size=n)
    return X, y.to_numpy()


DEEP = {"hidden_layers": (16, 8), "dropout": 0.0, "lr": 1e-2, "max_epochs": 15, "batch_size": 64,
        "random_state": 0, "early_stopping": None}


@pytest.mark.parametrize(
    "options",
    [{"orthogonalize": True}, {"deep_strategy": "two_stage"}, {"deep_strategy": "post_hoc"}],
)
def test_identifiable_strategies_keep_the_ols_coefficients(rng, options):
    X, y = _wide_and_deep(rng)
    oracle = sm.OLS(y, sm.add_constant(X)).fit().params.to_numpy()
    model = su.SemiStructuredRegressor(structured=["x1", "x2"], tabular=["x1", "x2"], **DEEP, **options).fit(X, y)
    np.testing.assert_allclose(model.summary_.loc["loc", "coef"].to_numpy(), oracle, atol=1e-4)
    linear = su.SemiStructuredRegressor(structured=["x1", "x2"], tabular=[]).fit(X, y)
    assert model.score(X, y) > linear.score(X, y) + 0.05  # the deep part learns the nonlinearity
    assert model.predict_distribution(X.iloc[:3]).shape == (3, 2)


def test_without_orthogonalization_the_deep_part_takes_linear_effects(rng):
    X, y = _wide_and_deep(rng)
    oracle = sm.OLS(y, sm.add_constant(X)).fit().params.to_numpy()[1:]
    model = su.SemiStructuredRegressor(
        structured=["x1", "x2"], tabular=["x1", "x2"], orthogonalize=False, **DEEP
    ).fit(X, y)
    assert np.sqrt(np.mean((model.coef_ - oracle) ** 2)) > 0.05


def test_clone_and_params():
    model = su.SemiStructuredRegressor(structured="x1 + s(x2)", family="gamma", scale=["x1"])
    params = clone(model).get_params()
    assert params["family"] == "gamma" and params["scale"] == ["x1"] and params["deep_strategy"] == "joint"


def test_image_part_adds_r2_and_keeps_structured_effects():
    X, y = su.datasets.make_regression_images(600, noise=0.3, random_state=0)
    X_test, y_test = su.datasets.make_regression_images(300, noise=0.3, random_state=1)
    common = {"structured": ["x1", "x2", "sex"], "tabular": [], "random_state": 0}
    linear = su.SemiStructuredRegressor(**common).fit(X, y)
    model = su.SemiStructuredRegressor(
        **common, image="image", orthogonalize=True, max_epochs=8, lr=3e-3, batch_size=64, augment=False,
    ).fit(X, y)
    assert model.score(X_test, y_test) > linear.score(X_test, y_test) + 0.1
    coef = model.summary_.loc["loc"]
    for term, truth in {"x1": 0.5, "x2": -0.8, "sex[male]": 0.3}.items():
        assert abs(coef.loc[term, "coef"] - truth) < 3 * coef.loc[term, "se"] + 0.02
    np.testing.assert_allclose(coef["coef"].to_numpy(), linear.summary_.loc["loc", "coef"].to_numpy(), atol=1e-3)


def test_sklearn_contract(rng):
    import pickle

    from sklearn.model_selection import cross_val_score

    X, y = _wide_and_deep(rng, 200)
    scores = cross_val_score(su.SemiStructuredRegressor(structured=["x1", "x2"], tabular=[]), X, y, cv=3)
    assert scores.shape == (3,) and np.isfinite(scores).all()
    model = su.SemiStructuredRegressor(structured=["x1"], tabular=["x1", "x2"], orthogonalize=True,
                                       **{**DEEP, "max_epochs": 3}).fit(X, y)
    assert not [k for k in vars(clone(model)) if k.endswith("_")]
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(restored.predict(X), model.predict(X))
    # predictions do not depend on the other rows of the batch (stored projection)
    np.testing.assert_allclose(model.predict(X.iloc[:1]), model.predict(X)[:1], rtol=1e-5, atol=1e-6)
    again = su.SemiStructuredRegressor(**model.get_params()).fit(X, y)
    np.testing.assert_allclose(again.predict(X), model.predict(X), rtol=1e-6)



def test_gamlss_with_smooths_and_scale_terms_on_diabetes():
    """Smooth mean terms plus log-linear scale terms on sklearn's diabetes data: the
    gram matrix of some smooths is singular there (s4 takes few distinct values), which
    used to fail the search for the penalty weight with 'Singular matrix'."""
    from sklearn.datasets import load_diabetes
    from sklearn.metrics import r2_score
    from sklearn.model_selection import KFold

    frame = load_diabetes(as_frame=True, scaled=False).frame
    X = frame.drop(columns="target").astype(float)
    X["sex"] = pd.Categorical(X["sex"].map({1.0: "1", 2.0: "2"}))
    numeric = [c for c in X.columns if c != "sex"]
    location = " + ".join(f"s({c})" if c != "sex" else c for c in X.columns)
    train, test = next(KFold(5, shuffle=True, random_state=0).split(X))
    model = su.SemiStructuredRegressor(structured=location, scale=numeric, tabular=[])
    model.fit(X.iloc[train], frame["target"].to_numpy()[train])
    prediction = model.predict(X.iloc[test])
    assert np.isfinite(prediction).all()
    assert r2_score(frame["target"].to_numpy()[test], prediction) > 0.3
