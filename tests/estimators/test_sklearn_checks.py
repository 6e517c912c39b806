"""scikit-learn's own estimator checks.

The regressor passes every check of ``parametrize_with_checks`` (no expected failures).
The survival estimators take a structured (event, time) ``y``; most of scikit-learn's
checks fit on a 1-D ``y`` of class labels or reals, which is no survival target, so
they run the checks that do not fit (parameters, cloning, repr, tags, prediction
before fit) here, and the survival counterparts of the fit checks (array-likes,
``n_features_in_``/``feature_names_in_``, feature-name consistency at predict, a
pipeline after a scaler) are below.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import estimator_checks as checks
from sklearn.utils.estimator_checks import parametrize_with_checks

import structunstruct as su

FAST = dict(hidden_layers=(8,), early_stopping=None, random_state=0)


def _regressor():
    # 20 epochs at lr 1e-2: check_regressors_train wants R^2 > 0.5 on a linear problem
    return su.SemiStructuredRegressor(max_epochs=20, lr=1e-2, batch_size=32, **FAST)


@parametrize_with_checks([_regressor()])
def test_regressor_passes_sklearn_checks(estimator, check):
    check(estimator)


def _survival_estimators():
    return [
        su.DeepSurv(max_epochs=2, **FAST),
        su.DeepPAMM(cuts=4, max_epochs=2, **FAST),
        su.MultiSurv(cuts=4, max_epochs=2, **FAST),
        su.LateFusion([("cox", su.DeepSurv(structured=["x0"], tabular=[]))]),
    ]


#: Checks that never fit, so they apply to any estimator whatever its target.
NO_FIT_CHECKS = [
    checks.check_no_attributes_set_in_init,
    checks.check_parameters_default_constructible,
    checks.check_get_params_invariance,
    checks.check_set_params,
    checks.check_estimator_repr,
    checks.check_estimators_unfitted,
    checks.check_do_not_raise_errors_in_init_or_set_params,
    checks.check_estimator_cloneable,
    checks.check_estimator_tags_renamed,
    checks.check_valid_tag_types,
    checks.check_mixin_order,
]


@pytest.mark.parametrize("estimator", _survival_estimators(), ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("check", NO_FIT_CHECKS, ids=lambda c: c.__name__)
def test_survival_estimators_pass_sklearn_checks_without_fit(estimator, check):
    check(type(estimator).__name__, estimator)


@pytest.fixture(scope="module")
def survival_data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    time = rng.exponential(np.exp(-X[:, 0]))
    event = rng.random(80) < 0.8
    return X, su.data.make_survival_target(time, event)


@pytest.mark.parametrize("estimator", _survival_estimators(), ids=lambda e: type(e).__name__)
def test_survival_fit_on_arrays_and_names(estimator, survival_data):
    X, y = survival_data
    fitted = estimator.fit(X, y)
    assert fitted.n_features_in_ == 3 and not hasattr(fitted, "feature_names_in_")
    assert np.isfinite(fitted.predict(X)).all()
    with pytest.warns(UserWarning, match="X has feature names"):
        fitted.predict(pd.DataFrame(X, columns=["a", "b", "c"]))
    with pytest.raises(ValueError, match="X has 2 features, but .* is expecting 3"):
        fitted.predict(X[:, :2])
    frame = pd.DataFrame(X, columns=["x0", "x1", "x2"])
    fitted = estimator.fit(frame, y)
    assert list(fitted.feature_names_in_) == ["x0", "x1", "x2"]
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        from_array = fitted.predict(X)
    np.testing.assert_allclose(from_array, fitted.predict(frame))
    with pytest.raises(ValueError, match="must be in the same order"):
        fitted.predict(frame[["x2", "x1", "x0"]])


@pytest.mark.parametrize("estimator", _survival_estimators()[:2], ids=lambda e: type(e).__name__)
def test_survival_estimator_after_a_scaler(estimator, survival_data):
    X, y = survival_data
    pipe = make_pipeline(StandardScaler(), estimator).fit(X, y)
    assert np.isfinite(pipe.predict(X)).all()
    assert 0.5 < pipe.score(X, y) <= 1


@pytest.mark.parametrize("estimator", _survival_estimators(), ids=lambda e: type(e).__name__)
def test_predict_before_fit_is_not_fitted(estimator, survival_data):
    X, _ = survival_data
    for method in ("predict", "predict_survival_function", "predict_cumulative_hazard", "predict_median"):
        with pytest.raises(NotFittedError):
            getattr(estimator, method)(X)


@pytest.mark.parametrize("estimator", _survival_estimators(), ids=lambda e: type(e).__name__)
def test_return_array_is_rows_by_times_as_scikit_survival(estimator, survival_data):
    from sksurv.metrics import integrated_brier_score

    X, y = survival_data
    fitted = estimator.fit(X, y)
    grid = np.quantile(y["time"], [0.2, 0.4, 0.6])
    frame = fitted.predict_survival_function(X, times=grid)
    array = fitted.predict_survival_function(X, times=grid, return_array=True)
    assert isinstance(array, np.ndarray) and array.shape == (len(X), len(grid))
    np.testing.assert_array_equal(array, frame.to_numpy().T)
    # scikit-survival reads the array as (n_samples, n_times): its IBS equals ours on the frame
    ours = su.metrics.integrated_brier_score(y, frame, y_train=y, times=grid)
    assert integrated_brier_score(y, y, array, grid) == pytest.approx(ours, rel=1e-10)


# Survival counterparts of scikit-learn's fit checks (check_estimators_pickle,
# check_fit_idempotent, check_methods_subset_invariance, check_methods_sample_order_invariance,
# check_dict_unchanged, check_estimators_nan_inf, check_readonly_memmap_input), with a
# survival target in place of the 1-D y those checks build.
@pytest.mark.parametrize("estimator", _survival_estimators(), ids=lambda e: type(e).__name__)
def test_survival_counterparts_of_fit_checks(estimator, survival_data, tmp_path):
    import pickle

    from sklearn.base import clone

    X, y = survival_data
    fitted = clone(estimator).fit(X, y)
    risk = fitted.predict(X)
    state = copy.deepcopy({k: v for k, v in vars(fitted).items() if isinstance(v, np.ndarray)})
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(fitted)).predict(X), risk)
    np.testing.assert_allclose(clone(estimator).fit(X, y).predict(X), risk, rtol=1e-6)
    np.testing.assert_allclose(fitted.predict(X[10:30]), risk[10:30], rtol=1e-6, atol=1e-6)
    order = np.random.default_rng(0).permutation(len(X))
    np.testing.assert_allclose(fitted.predict(X[order]), risk[order], rtol=1e-6, atol=1e-6)
    for key, value in state.items():
        np.testing.assert_array_equal(getattr(fitted, key), value, err_msg=f"predict changed {key}")
    memmap = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=np.float64, shape=X.shape)
    memmap[:] = X
    memmap.flush()
    readonly = np.load(tmp_path / "X.npy", mmap_mode="r")
    np.testing.assert_allclose(clone(estimator).fit(readonly, y).predict(readonly), risk, rtol=1e-6)
    for bad in (np.nan, np.inf):
        spoiled = X.copy()
        spoiled[3, 0] = bad  # x0: read by every estimator here
        with pytest.raises(ValueError, match="column 'x0' has 1 NaN or infinite"):
            clone(estimator).fit(spoiled, y)
        with pytest.raises(ValueError, match="column 'x0' has 1 NaN or infinite"):
            fitted.predict(spoiled)
