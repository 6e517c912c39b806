"""Checks every estimator must pass: the scikit-learn contract on survival data."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score, cross_validate
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sksurv.metrics import concordance_index_censored

import structunstruct as su

FAST = {"max_epochs": 3, "batch_size": 64, "random_state": 0}


def _estimators():
    """(id, factory) pairs: every public estimator in a classical and a deep setting."""
    return [
        ("cox", lambda: su.DeepSurv(structured=["age", "pnodes", "horTh"], tabular=[])),
        ("deepsurv", lambda: su.DeepSurv(tabular=["age", "pnodes", "horTh", "tgrade"], **FAST)),
        (
            "wide_deep_orth",
            lambda: su.DeepSurv(structured=["age", "pnodes"], orthogonalize=True, **FAST),
        ),
        ("pamm", lambda: su.DeepPAMM(structured=["age", "pnodes", "horTh"], tabular=[], cuts=8)),
        (
            "deep_pamm",
            lambda: su.DeepPAMM(structured=["age"], tabular=["pnodes", "tgrade"], cuts=8, **FAST),
        ),
        (
            "late_fusion",
            lambda: su.LateFusion(
                [("cox", su.DeepSurv(structured=["age", "pnodes"], tabular=[])),
                 ("deep", su.DeepSurv(tabular=["horTh", "tgrade"], **FAST))],
                combine="stacking", cv=3, random_state=0,
            ),
        ),
    ]


ESTIMATORS = _estimators()
IDS = [name for name, _ in ESTIMATORS]


@pytest.fixture(scope="module")
def data(gbsg2):
    X, y = gbsg2
    return X.iloc[:240].copy(), y[:240]


@pytest.mark.parametrize("factory", [f for _, f in ESTIMATORS], ids=IDS)
def test_fit_returns_self_and_sets_fitted_attributes(factory, data):
    X, y = data
    est = factory()
    assert est.fit(X, y) is est
    for attr in ("baseline_cumulative_hazard_", "n_features_in_"):
        assert hasattr(est, attr)
    assert est.n_features_in_ == X.shape[1]


@pytest.mark.parametrize("factory", [f for _, f in ESTIMATORS], ids=IDS)
def test_init_stores_parameters_only(factory):
    est = factory()
    params = est.get_params()
    assert not [k for k in vars(est) if k.endswith("_")]
    assert set(params) == set(vars(est))


@pytest.mark.parametrize("factory", [f for _, f in ESTIMATORS], ids=IDS)
def test_clone_and_set_params(factory, data):
    X, y = data
    est = factory()
    twin = clone(est)
    assert repr(twin.get_params()) == repr(est.get_params())  # nested estimators: by value
    name = "cv" if "cv" in est.get_params() else "lr"
    twin.set_params(**{name: 4})
    assert twin.get_params()[name] == 4 and est.get_params()[name] != 4
    with pytest.raises(ValueError, match="Invalid parameter"):
        twin.set_params(no_such_param=1)


@pytest.mark.parametrize("factory", [f for _, f in ESTIMATORS], ids=IDS)
def test_predictions_have_documented_shapes(factory, data):
    X, y = data
    est = factory().fit(X, y)
    rows = X.iloc[:7]
    assert est.predict(rows).shape == (7,)
    surv = est.predict_survival_function(rows)
    assert list(surv.columns) == list(rows.index) and surv.index.name == "time"
    assert ((surv.to_numpy() >= 0) & (surv.to_numpy() <= 1)).all()
    assert (np.diff(surv.to_numpy(), axis=0) <= 1e-12).all()  # non-increasing in time
    assert est.predict_cumulative_hazard(rows, times=[100.0, 500.0, 1000.0]).shape == (3, 7)
    assert est.predict_median(rows).shape == (7,)
    assert est.score(X, y) == pytest.approx(concordance_index_censored(y["event"], y["time"], est.predict(X))[0])


@pytest.mark.parametrize("factory", [f for _, f in ESTIMATORS], ids=IDS)
def test_average_predicted_survival_follows_kaplan_meier(factory, data):
    """On the training rows the mean predicted survival curve is close to the
    Kaplan-Meier estimate (lifelines): a baseline on the wrong scale, a cumulative
    hazard summed over the wrong rows or a sign error in the hazard ratio moves it."""
    X, y = data
    est = factory().fit(X, y)
    times = np.quantile(y["time"][y["event"]], [0.2, 0.5, 0.8])
    mean_curve = est.predict_survival_function(X, times=times).to_numpy().mean(axis=1)
    km = KaplanMeierFitter().fit(y["time"], y["event"]).survival_function_at_times(times).to_numpy()
    np.testing.assert_allclose(mean_curve, km, atol=0.04)


@pytest.mark.parametrize("factory", [f for _, f in ESTIMATORS], ids=IDS)
def test_prediction_is_deterministic_and_row_independent(factory, data):
    X, y = data
    est = factory().fit(X, y)
    full = est.predict(X)
    np.testing.assert_allclose(est.predict(X), full)
    np.testing.assert_allclose(est.predict(X.iloc[::-1])[::-1], full, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(est.predict(X.iloc[:1]), full[:1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("factory", [f for _, f in ESTIMATORS], ids=IDS)
def test_same_random_state_gives_same_fit(factory, data):
    X, y = data
    first = factory().fit(X, y).predict(X)
    second = factory().fit(X, y).predict(X)
    np.testing.assert_allclose(first, second, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("factory", [f for _, f in ESTIMATORS], ids=IDS)
def test_fit_does_not_modify_inputs_or_global_rng(factory, data):
    X, y = data
    X_before, y_before = X.copy(deep=True), y.copy()
    np_state = np.random.get_state()[1].copy()  # noqa: NPY002 - checking the legacy global state
    import torch

    torch_state = torch.get_rng_state().clone()
    factory().fit(X, y)
    pd.testing.assert_frame_equal(X, X_before)
    np.testing.assert_array_equal(y, y_before)
    np.testing.assert_array_equal(np.random.get_state()[1], np_state)  # noqa: NPY002
    assert torch.equal(torch.get_rng_state(), torch_state)


@pytest.mark.parametrize("factory", [f for _, f in ESTIMATORS], ids=IDS)
def test_pickle_roundtrip(factory, data):
    X, y = data
    est = factory().fit(X, y)
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_allclose(again.predict(X), est.predict(X))


@pytest.mark.parametrize("factory", [f for _, f in ESTIMATORS], ids=IDS)
def test_cross_val_score(factory, data):
    """The default score is Harrell's C of each fold's model on its held-out rows
    (scikit-survival), and every model ranks better than chance (0.54-0.70 here)."""
    X, y = data
    result = cross_validate(factory(), X, y, cv=KFold(3, shuffle=True, random_state=0),
                            return_estimator=True, return_indices=True)
    for score, est, test in zip(result["test_score"], result["estimator"], result["indices"]["test"], strict=True):
        expected = concordance_index_censored(y["event"][test], y["time"][test], est.predict(X.iloc[test]))[0]
        assert score == pytest.approx(expected, rel=1e-12)
    assert result["test_score"].mean() > 0.52  # a reversed risk would give about 0.46


def test_grid_search_picks_by_concordance(data):
    """The search ranks settings by the scorer's mean over folds, computed here by hand."""
    X, y = data
    cv, scorer = KFold(3, shuffle=True, random_state=0), su.metrics.get_scorer("harrell_c")
    grid_values = {"structured": [["age"], ["age", "pnodes", "tsize"]]}
    grid = GridSearchCV(su.DeepSurv(tabular=[]), grid_values, cv=cv, scoring=scorer).fit(X, y)
    by_hand = [cross_val_score(su.DeepSurv(structured=cols, tabular=[]), X, y, cv=cv, scoring=scorer).mean()
               for cols in grid_values["structured"]]
    np.testing.assert_allclose(grid.cv_results_["mean_test_score"], by_hand, rtol=1e-12)
    assert grid.best_params_["structured"] == ["age", "pnodes", "tsize"]  # pnodes is prognostic
    assert grid.best_score_ == pytest.approx(max(by_hand)) and by_hand[1] > by_hand[0] + 0.05


def test_pipeline_with_pandas_output(data):
    X, y = data
    scaler = ColumnTransformer(
        [("num", StandardScaler(), ["age", "pnodes"])], remainder="passthrough",
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")
    pipe = Pipeline([("scale", scaler), ("cox", su.DeepSurv(structured=["age", "pnodes"], tabular=[]))])
    pipe.fit(X, y)
    direct = su.DeepSurv(structured=["age", "pnodes"], tabular=[]).fit(X, y)
    # on standardized columns the coefficients are per standard deviation
    np.testing.assert_allclose(
        pipe.named_steps["cox"].coef_,
        direct.coef_ * X[["age", "pnodes"]].std(ddof=0).to_numpy(), rtol=1e-6,
    )
    assert pipe.score(X, y) == pytest.approx(direct.score(X, y))


@pytest.mark.parametrize("form", ["structured", "frame", "tuple"])
def test_all_target_forms_agree(form, data):
    X, y = data
    targets = {
        "structured": y,
        "frame": pd.DataFrame({"time": y["time"], "event": y["event"].astype(int)}),
        "tuple": (y["time"], y["event"]),
    }
    est = su.DeepSurv(structured=["age", "pnodes"], tabular=[]).fit(X, targets[form])
    ref = su.DeepSurv(structured=["age", "pnodes"], tabular=[]).fit(X, y)
    np.testing.assert_allclose(est.coef_, ref.coef_)
