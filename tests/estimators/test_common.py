"""Checks every estimator must pass, run over every estimator the package has.

The estimators come from :func:`structunstruct.estimators.all_estimators` (the package is
walked, as scikit-survival's ``all_survival_estimators``), their configurations from
``tests/estimator_configs.py``: an estimator without configurations fails
:func:`test_every_estimator_has_configurations`. Survival checks run on the survival
configurations, their regression counterparts (R², ``predict_distribution``) on the
regression ones; the contract checks (clone, parameters, determinism, unmodified
inputs, pickle, save → load in a fresh process) on all.
"""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from estimator_configs import ALL_CONFIGS, CONFIGS, dataset
from helpers import load_in_fresh_process, predictions
from lifelines import KaplanMeierFitter
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score, cross_validate
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sksurv.metrics import concordance_index_censored

import structunstruct as su
from structunstruct.estimators import all_estimators

IDS = [config.name for config in ALL_CONFIGS]
SURVIVAL = [config for config in ALL_CONFIGS if config.kind == "survival"]
REGRESSION = [config for config in ALL_CONFIGS if config.kind == "regression"]

#: Fitted attributes each estimator sets besides ``n_features_in_``.
FITTED = {"survival": ("baseline_cumulative_hazard_",), "regression": ("summary_", "family_")}
META_FITTED = {"TunedEstimator": ("best_estimator_", "best_params_"), "MultiSurv": ("cuts_", "summary_")}
#: Estimators whose fusion is their own, which refuse ``fusion="late"``.
NO_LATE_FUSION = {"MultiSurv"}


def _by(configs):
    return pytest.mark.parametrize("config", configs, ids=[c.name for c in configs])


all_configs, survival_configs, regression_configs = _by(ALL_CONFIGS), _by(SURVIVAL), _by(REGRESSION)


@pytest.fixture(scope="module")
def fitted():
    """name -> (fitted estimator, X, y), fitted once per module for the read-only checks."""
    out = {}

    def get(config):
        if config.name not in out:
            X, y = dataset(config.data)
            out[config.name] = (config.make().fit(X, y), X, y)
        return out[config.name]

    return get


# -- discovery ---------------------------------------------------------------------------
def test_all_estimators_finds_every_estimator():
    names = [name for name, _ in all_estimators()]
    assert {"DeepSurv", "DeepPAMM", "SemiStructuredRegressor", "LateFusion"} <= set(names)
    assert "SemiStructuredEstimator" not in names  # the base has no predictions
    assert dict(all_estimators())["DeepSurv"] is su.DeepSurv
    assert [n for n, _ in all_estimators(type_filter="survival")] == ["DeepPAMM", "DeepSurv", "LateFusion", "MultiSurv"]
    assert [n for n, _ in all_estimators(type_filter="regressor")] == ["SemiStructuredRegressor"]
    assert len(all_estimators(["survival", "regressor"])) == 5
    with pytest.raises(ValueError, match="unknown type_filter.*known"):
        all_estimators(type_filter="classifier")


def test_every_estimator_has_configurations():
    """A new estimator must come with configurations in tests/estimator_configs.py."""
    discovered = {name for name, _ in all_estimators()}
    missing = discovered - set(CONFIGS)
    assert not missing, f"add configurations for {sorted(missing)} to tests/estimator_configs.py"
    assert set(CONFIGS) == discovered  # no configurations of estimators that no longer exist
    for name, cls in all_estimators():
        assert all(type(config.make()) is cls for config in CONFIGS[name]), name
    assert len(set(IDS)) == len(IDS)


def test_every_semi_structured_estimator_is_configured_classical_deep_and_late():
    from structunstruct.estimators.base import SemiStructuredEstimator

    for name, cls in all_estimators():
        if issubclass(cls, SemiStructuredEstimator):
            models = [config.make() for config in CONFIGS[name]]
            assert {m.fusion for m in models} >= ({"joint"} if name in NO_LATE_FUSION else {"joint", "late"}), name
            has_deep = [m.tabular != [] or m.image is not None for m in models]
            assert any(has_deep) and not all(has_deep), name  # a classical and a deep model


# -- the scikit-learn contract -------------------------------------------------------------
@all_configs
def test_fit_returns_self_and_sets_fitted_attributes(config):
    X, y = dataset(config.data)
    est = config.make()
    assert est.fit(X, y) is est
    attrs = META_FITTED.get(type(est).__name__, FITTED[config.kind])
    for attr in (*attrs, "n_features_in_"):
        assert hasattr(est, attr), attr
    assert est.n_features_in_ == X.shape[1]


@all_configs
def test_init_stores_parameters_only(config):
    est = config.make()
    params = est.get_params(deep=False)
    assert not [k for k in vars(est) if k.endswith("_")]
    assert set(params) == set(vars(est))


@all_configs
def test_clone_and_set_params(config):
    est = config.make()
    twin = clone(est)
    assert repr(twin.get_params()) == repr(est.get_params())  # nested estimators: by value
    name = "cv" if "cv" in est.get_params() else "lr"
    twin.set_params(**{name: 4})
    assert twin.get_params()[name] == 4 and est.get_params()[name] != 4
    with pytest.raises(ValueError, match="Invalid parameter"):
        twin.set_params(no_such_param=1)


@survival_configs
def test_predictions_have_documented_shapes(config, fitted):
    est, X, y = fitted(config)
    rows = X.iloc[:7]
    assert est.predict(rows).shape == (7,)
    surv = est.predict_survival_function(rows)
    assert list(surv.columns) == list(rows.index) and surv.index.name == "time"
    assert ((surv.to_numpy() >= 0) & (surv.to_numpy() <= 1)).all()
    assert (np.diff(surv.to_numpy(), axis=0) <= 1e-12).all()  # non-increasing in time
    assert est.predict_cumulative_hazard(rows, times=[100.0, 500.0, 1000.0]).shape == (3, 7)
    assert est.predict_median(rows).shape == (7,)
    assert est.score(X, y) == pytest.approx(concordance_index_censored(y["event"], y["time"], est.predict(X))[0])


@regression_configs
def test_regression_predictions_have_documented_shapes(config, fitted):
    est, X, y = fitted(config)
    rows = X.iloc[:7]
    assert est.predict(rows).shape == (7,)
    dist = est.predict_distribution(rows)
    assert list(dist.columns) == list(est.family_.parameters) and list(dist.index) == list(rows.index)
    assert np.isfinite(dist.to_numpy()).all()
    np.testing.assert_allclose(est.predict(rows), dist["loc"], rtol=1e-12)  # normal family: mean = loc
    interval = est.predict_interval(rows, coverage=0.8)
    assert interval.shape == (7, 2) and (interval[:, 0] < interval[:, 1]).all()
    assert est.score(X, y) == pytest.approx(r2_score(y, est.predict(X)), rel=1e-12)


@survival_configs
def test_average_predicted_survival_follows_kaplan_meier(config, fitted):
    """On the training rows the mean predicted survival curve is close to the
    Kaplan-Meier estimate (lifelines): a baseline on the wrong scale, a cumulative
    hazard summed over the wrong rows or a sign error in the hazard ratio moves it."""
    est, X, y = fitted(config)
    times = np.quantile(y["time"][y["event"]], [0.2, 0.5, 0.8])
    mean_curve = est.predict_survival_function(X, times=times).to_numpy().mean(axis=1)
    km = KaplanMeierFitter().fit(y["time"], y["event"]).survival_function_at_times(times).to_numpy()
    np.testing.assert_allclose(mean_curve, km, atol=0.04)


@all_configs
def test_prediction_is_deterministic_and_row_independent(config, fitted):
    est, X, _ = fitted(config)
    full = est.predict(X)
    np.testing.assert_allclose(est.predict(X), full)
    np.testing.assert_allclose(est.predict(X.iloc[::-1])[::-1], full, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(est.predict(X.iloc[:1]), full[:1], rtol=1e-5, atol=1e-6)


@all_configs
def test_same_random_state_gives_same_fit(config, fitted):
    est, X, y = fitted(config)
    second = config.make().fit(X, y).predict(X)
    np.testing.assert_allclose(est.predict(X), second, rtol=1e-6, atol=1e-7)


@all_configs
def test_fit_does_not_modify_inputs_or_global_rng(config):
    import torch

    X, y = dataset(config.data)
    X_before, y_before = X.copy(deep=True), y.copy()
    images_before = [np.array(v, copy=True) for v in X["image"]] if "image" in X else None
    np_state = np.random.get_state()[1].copy()  # noqa: NPY002 - checking the legacy global state
    torch_state = torch.get_rng_state().clone()
    config.make().fit(X, y)
    pd.testing.assert_frame_equal(X, X_before)
    np.testing.assert_array_equal(y, y_before)
    if images_before is not None:  # the arrays inside the object column, not only their identity
        for before, after in zip(images_before, X["image"], strict=True):
            np.testing.assert_array_equal(after, before)
    np.testing.assert_array_equal(np.random.get_state()[1], np_state)  # noqa: NPY002
    assert torch.equal(torch.get_rng_state(), torch_state)


@all_configs
def test_pickle_roundtrip(config, fitted):
    est, X, _ = fitted(config)
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_allclose(again.predict(X), est.predict(X))


@all_configs
def test_cross_val_score(config):
    """The default score of each fold's model on its held-out rows is Harrell's C
    (scikit-survival) for survival models, R² (scikit-learn) for regression, and every
    model is better than chance (survival: 0.54-0.80 here; a reversed risk gives about
    0.46; regression: R² 0.3-0.6 here)."""
    X, y = dataset(config.data)
    result = cross_validate(config.make(), X, y, cv=KFold(3, shuffle=True, random_state=0),
                            return_estimator=True, return_indices=True)
    for score, est, test in zip(result["test_score"], result["estimator"], result["indices"]["test"], strict=True):
        pred = est.predict(X.iloc[test])
        if config.kind == "survival":
            expected = concordance_index_censored(y["event"][test], y["time"][test], pred)[0]
        else:
            expected = r2_score(y[test], pred)
        assert score == pytest.approx(expected, rel=1e-12)
    assert result["test_score"].mean() > (0.52 if config.kind == "survival" else 0.1)


# -- persistence -----------------------------------------------------------------------
ROWS = 12


@pytest.fixture(scope="module")
def saved_and_loaded(fitted, tmp_path_factory):
    """Every configuration that can be saved: fitted, saved, loaded in one fresh process
    where unpickling raises (``tests/helpers.py:load_in_fresh_process``)."""
    root = tmp_path_factory.mktemp("common_saved")
    expected, saved = {}, {}
    for config in ALL_CONFIGS:
        est, X, _ = fitted(config)
        if hasattr(est, "save"):
            expected[config.name] = predictions(est, X.iloc[:ROWS])
            saved[config.name] = est.save(root / config.name)
    return expected, load_in_fresh_process("estimator_configs:cases", saved, ROWS, root)


@all_configs
def test_saved_model_predicts_the_same_in_a_fresh_process(config, saved_and_loaded):
    """Predictions, survival functions, cumulative hazards, distributions and summaries
    of the loaded model are identical (done-means 3 of issue 12)."""
    if not hasattr(config.make(), "save"):
        pytest.xfail(f"{type(config.make()).__name__} has no save(): not persisted yet")
    expected, loaded = saved_and_loaded
    assert set(loaded[config.name]) == set(expected[config.name])
    for key, values in expected[config.name].items():
        np.testing.assert_array_equal(loaded[config.name][key], values, err_msg=f"{config.name}: {key}")


# -- survival-specific scikit-learn integration -----------------------------------------------
@pytest.fixture(scope="module")
def data():
    return dataset("gbsg2")


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
