"""Tests for structunstruct.metrics against scikit-survival, lifelines and pycox."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.integrate
from lifelines.utils import concordance_index
from sklearn.base import BaseEstimator
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sksurv import metrics as sksurv_metrics
from sksurv.datasets import load_gbsg2
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.nonparametric import kaplan_meier_estimator
from sksurv.util import Surv

from structunstruct import metrics
from structunstruct.metrics import (
    brier_score,
    calibration_curve,
    concordance_index_harrell,
    concordance_index_uno,
    cumulative_dynamic_auc,
    default_time_grid,
    get_scorer,
    integrated_brier_score,
    list_scorers,
    time_dependent_auc,
)

NUMERIC = ["age", "tsize", "pnodes", "progrec", "estrec"]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def gbsg2():
    """GBSG2 (n=686) as a (time, event)-named target, its features and a simple risk.

    The risk uses integer weights so that equal risks are exactly equal: scikit-survival
    counts risks within 1e-8 as tied, lifelines only exact ties.
    """
    X, y_raw = load_gbsg2()
    y = Surv.from_arrays(event=y_raw["cens"], time=y_raw["time"])
    risk = (X["age"] + 2 * X["tsize"] + 10 * X["pnodes"]).to_numpy(dtype=float)
    return X[NUMERIC].astype(float), y, risk


@pytest.fixture(scope="module")
def simulated():
    """Exponential survival with a known hazard, uniform censoring (seeded)."""
    rng = np.random.default_rng(20240601)
    n = 400
    x = rng.normal(size=(n, 2))
    rate = 0.1 * np.exp(x @ np.array([1.0, -0.7]))
    event_time = rng.exponential(1.0 / rate)
    censor_time = rng.uniform(0.0, 25.0, size=n)
    y = Surv.from_arrays(event=event_time <= censor_time, time=np.minimum(event_time, censor_time))
    return x, y, rate


def km_frame(y, n_columns):
    """Kaplan–Meier of ``y`` as a survival DataFrame with the same curve for every sample."""
    t, s = kaplan_meier_estimator(y["event"], y["time"])
    t, s = np.r_[0.0, t], np.r_[1.0, s]
    return pd.DataFrame(np.repeat(s[:, None], n_columns, axis=1), index=t)


def km_at(y, times):
    """Kaplan–Meier of ``y`` at ``times``, shape (len(times),)."""
    t, s = kaplan_meier_estimator(y["event"], y["time"])
    return s[np.searchsorted(t, times, side="right") - 1]


# --------------------------------------------------------------------------- concordance


def test_harrell_matches_lifelines(gbsg2):
    _, y, risk = gbsg2
    ours = concordance_index_harrell(y, risk)
    theirs = concordance_index(y["time"], -risk, y["event"])
    assert abs(ours - theirs) < 1e-10
    assert 0.6 < ours < 0.75


def test_harrell_of_reversed_risk_is_one_minus(gbsg2):
    _, y, risk = gbsg2
    # tied risks count 1/2 either way, so the identity is exact
    assert concordance_index_harrell(y, -risk) == pytest.approx(
        1.0 - concordance_index_harrell(y, risk), abs=1e-12
    )


def _target_forms(y):
    return {
        "structured": y,
        "frame": pd.DataFrame({"time": y["time"], "event": y["event"].astype(int)}),
        "tuple": (y["time"], y["event"]),
    }


@pytest.mark.parametrize(
    "metric", [concordance_index_harrell, concordance_index_uno, cumulative_dynamic_auc]
)
def test_risk_metrics_identical_for_all_target_forms(gbsg2, metric):
    _, y, risk = gbsg2
    values = {name: metric(form, risk) for name, form in _target_forms(y).items()}
    assert len(set(values.values())) == 1, values


def test_ibs_identical_for_all_target_forms(gbsg2):
    _, y, _ = gbsg2
    km = km_frame(y, len(y))
    values = {
        name: integrated_brier_score(form, km, y_train=form)
        for name, form in _target_forms(y).items()
    }
    assert len(set(values.values())) == 1, values


def test_uno_matches_sksurv(gbsg2):
    _, y, risk = gbsg2
    direct = sksurv_metrics.concordance_index_ipcw(y, y, risk)[0]
    assert concordance_index_uno(y, risk) == direct
    truncated = sksurv_metrics.concordance_index_ipcw(y, y, risk, tau=1500.0)[0]
    assert concordance_index_uno(y, risk, tau=1500.0) == truncated
    assert truncated != direct


def test_uno_with_train_data_matches_sksurv_and_never_raises(gbsg2):
    _, y, risk = gbsg2
    order = np.argsort(y["time"])
    train, test = y[order[::2]], y[order[1::2]]
    risk_test = risk[order[1::2]]
    direct = sksurv_metrics.concordance_index_ipcw(train, test, risk_test)[0]
    assert concordance_index_uno(test, risk_test, y_train=train) == direct
    # training follow-up shorter than the test follow-up: sksurv raises without tau
    short = train[train["time"] < 2000]
    with pytest.raises(ValueError):
        sksurv_metrics.concordance_index_ipcw(short, test, risk_test)
    value = concordance_index_uno(test, risk_test, y_train=short)
    expected = sksurv_metrics.concordance_index_ipcw(
        short, test, risk_test, tau=short["time"].max()
    )[0]
    assert value == pytest.approx(expected, abs=1e-12)


def test_uno_default_tau_keeps_events_at_the_last_training_time():
    # the last training time is an event, so G is positive there and sksurv accepts
    # the test event at that time; it is comparable to the censored test sample tied with it
    train = Surv.from_arrays(event=[1, 0, 1, 1, 1], time=[1.0, 2.0, 3.0, 4.0, 5.0])
    test = Surv.from_arrays(event=[1, 0, 1, 0], time=[2.0, 3.0, 5.0, 5.0])
    risk = np.array([4.0, 1.0, 2.0, 3.0])
    direct = sksurv_metrics.concordance_index_ipcw(train, test, risk)[0]
    assert concordance_index_uno(test, risk, y_train=train) == direct
    assert direct != sksurv_metrics.concordance_index_ipcw(train, test, risk, tau=5.0)[0]


# --------------------------------------------------------------------------- AUC


def test_auc_matches_sksurv(gbsg2):
    _, y, risk = gbsg2
    times = default_time_grid(y)
    auc, mean_auc = sksurv_metrics.cumulative_dynamic_auc(y, y, risk, times)
    got_times, got_auc = time_dependent_auc(y, risk)
    np.testing.assert_array_equal(got_times, times)
    np.testing.assert_allclose(got_auc, auc, rtol=0, atol=1e-12)
    assert cumulative_dynamic_auc(y, risk) == pytest.approx(mean_auc, abs=1e-12)


def test_auc_with_short_training_follow_up(gbsg2):
    _, y, risk = gbsg2
    train = y[y["time"] < 1500]
    times = default_time_grid(y, upper=0.5)
    with pytest.raises(ValueError):  # sksurv needs G at test event times beyond 1500
        sksurv_metrics.cumulative_dynamic_auc(train, y, risk, times)
    auc = time_dependent_auc(y, risk, y_train=train, times=times)[1]
    # samples after the last time are controls whatever their time and status
    later = y.copy()
    late = later["time"] > times[-1]
    later["time"][late] += 3000.0
    later["event"][late] = ~later["event"][late]
    np.testing.assert_allclose(
        time_dependent_auc(later, risk, y_train=train, times=times)[1], auc, atol=1e-14
    )
    assert cumulative_dynamic_auc(later, risk, y_train=train, times=times) == pytest.approx(
        cumulative_dynamic_auc(y, risk, y_train=train, times=times), abs=1e-14
    )


def test_auc_of_survival_frame_equals_auc_of_risk(simulated):
    _, y, rate = simulated
    times = default_time_grid(y, n_times=10)
    grid = np.linspace(0.0, y["time"].max(), 300)
    frame = pd.DataFrame(np.exp(-np.outer(grid, rate)), index=grid)
    # within one time point, 1 - S(t) ranks samples exactly as the rate does
    np.testing.assert_allclose(
        time_dependent_auc(y, frame, times=times)[1],
        time_dependent_auc(y, rate, times=times)[1],
        atol=1e-12,
    )


# --------------------------------------------------------------------------- Brier


def test_default_time_grid_protocol(gbsg2):
    _, y, _ = gbsg2
    grid = default_time_grid(y)
    lo, hi = np.quantile(y["time"][y["event"]], [0.1, 0.8])
    assert grid.shape == (50,)
    assert grid[0] == pytest.approx(lo) and grid[-1] == pytest.approx(hi)
    assert np.all(np.diff(grid) > 0)


def test_default_times_stay_inside_training_follow_up(gbsg2):
    _, y, _ = gbsg2
    train = y[y["time"] < 1000]
    km = km_frame(y, len(y))
    times, scores = brier_score(y, km, y_train=train)
    assert times[-1] < train["time"].max()
    assert np.isfinite(scores).all()


def test_ibs_of_km_matches_sksurv(gbsg2):
    _, y, _ = gbsg2
    times = default_time_grid(y)
    direct = sksurv_metrics.integrated_brier_score(
        y, y, np.tile(km_at(y, times), (len(y), 1)), times
    )
    ours = integrated_brier_score(y, km_frame(y, len(y)))
    assert ours == pytest.approx(direct, abs=1e-12)
    assert ours < 0.25


def test_ibs_frame_equals_array(simulated):
    _, y, rate = simulated
    grid = np.sort(y["time"])
    times = default_time_grid(y, n_times=20)
    # some times fall exactly on rows of the frame, some before its first row
    times = np.unique(np.r_[times, grid[(grid > times[0]) & (grid < times[-1])][::9]])
    index = grid[grid > times[3]]
    frame = pd.DataFrame(np.exp(-np.outer(index, rate)), index=index)
    # right-continuous step function of the frame, 1 before its first row
    row = np.searchsorted(index, times, side="right") - 1
    array = np.where(row >= 0, np.exp(-np.outer(rate, index[row.clip(0)])), 1.0)
    assert np.isin(times, index).sum() > 5 and (row < 0).sum() == 4
    assert integrated_brier_score(y, frame, times=times) == pytest.approx(
        integrated_brier_score(y, array, times=times), abs=1e-14
    )
    np.testing.assert_allclose(
        brier_score(y, frame, times=times)[1], brier_score(y, array, times=times)[1], atol=1e-14
    )
    # the default grid is used for a frame when times is not given
    default = default_time_grid(y)
    np.testing.assert_array_equal(brier_score(y, frame)[0], default)


def test_ibs_perfect_information_beats_km(simulated):
    _, y, rate = simulated
    times = default_time_grid(y)
    truth = np.exp(-np.outer(rate, times))
    km = np.tile(km_at(y, times), (len(y), 1))
    ibs_truth = integrated_brier_score(y, truth, times=times)
    ibs_km = integrated_brier_score(y, km, times=times)
    assert ibs_truth < ibs_km - 0.01


def test_ibs_matches_pycox(gbsg2, monkeypatch):
    pycox_eval = pytest.importorskip("pycox.evaluation")
    if not hasattr(scipy.integrate, "simps"):  # removed in scipy 1.14; pycox 0.3 calls it
        monkeypatch.setattr(scipy.integrate, "simps", scipy.integrate.simpson, raising=False)
    _, y, risk = gbsg2
    times = default_time_grid(y)
    km = km_frame(y, len(y))
    linear = (risk - risk.mean()) / risk.std()
    cox_like = pd.DataFrame(km.to_numpy() ** np.exp(0.5 * linear), index=km.index)
    for survival in (km, cox_like):
        ev = pycox_eval.EvalSurv(survival, y["time"], y["event"].astype(int), censor_surv="km")
        # pycox: Kaplan–Meier censoring weights with other tie handling, weighted mean,
        # Simpson's rule; measured differences are about 3e-5 on GBSG2
        assert integrated_brier_score(y, survival) == pytest.approx(
            ev.integrated_brier_score(times), abs=1e-3
        )


def test_brier_ignores_times_of_late_test_samples(gbsg2):
    _, y, _ = gbsg2
    train = y[y["time"] < 2000]
    km = km_frame(y, len(y))
    times = default_time_grid(y)
    with pytest.raises(ValueError):  # sksurv needs G(t) beyond the training follow-up
        sksurv_metrics.brier_score(train, y, np.tile(km_at(y, times), (len(y), 1)), times)
    later = y.copy()
    later["time"][later["time"] >= 2000] += 5000.0
    assert integrated_brier_score(y, km, y_train=train) == pytest.approx(
        integrated_brier_score(later, km, y_train=train), abs=1e-14
    )


def test_ibs_of_step_functions_matches_sksurv(gbsg2):
    X, y, _ = gbsg2
    model = CoxPHSurvivalAnalysis().fit(X, y)
    functions = model.predict_survival_function(X)
    times = default_time_grid(y)
    direct = sksurv_metrics.integrated_brier_score(
        y, y, np.vstack([fn(times) for fn in functions]), times
    )
    assert integrated_brier_score(y, functions) == pytest.approx(direct, abs=1e-12)


# --------------------------------------------------------------------------- calibration


def test_calibration_curve_tracks_truth(simulated):
    _, y, rate = simulated
    t = float(np.median(y["time"]))
    truth = np.exp(-rate * t)
    curve = calibration_curve(y, truth, t, n_bins=5)
    assert list(curve.columns) == [
        "n",
        "n_events",
        "predicted",
        "observed",
        "observed_lower",
        "observed_upper",
    ]
    assert curve["n"].sum() == len(y)
    assert curve["predicted"].is_monotonic_increasing
    gap_truth = (curve["predicted"] - curve["observed"]).abs().mean()
    gap_shrunk = (
        (calibration_curve(y, truth**3, t, 5)["predicted"] - curve["observed"]).abs().mean()
    )
    assert gap_truth < 0.06 < gap_shrunk
    # each group's observed value is the Kaplan-Meier estimate of that group
    first = y[np.argsort(truth, kind="stable")[: curve["n"].iloc[0]]]
    assert curve["observed"].iloc[0] == pytest.approx(km_at(first, [t])[0])


# --------------------------------------------------------------------------- scorers


class CoxWrapper(BaseEstimator):
    """Minimal sklearn estimator around sksurv's Cox model for the scorer tests."""

    def __init__(self, alpha: float = 0.0, as_frame: bool = False):
        self.alpha = alpha
        self.as_frame = as_frame

    def fit(self, X, y):
        self.model_ = CoxPHSurvivalAnalysis(alpha=self.alpha).fit(X, y)
        return self

    def predict(self, X):
        return self.model_.predict(X)

    def predict_survival_function(self, X):
        functions = self.model_.predict_survival_function(X)
        if not self.as_frame:
            return functions
        grid = functions[0].x
        return pd.DataFrame(np.column_stack([fn(grid) for fn in functions]), index=grid)


@pytest.mark.parametrize("name", ["harrell_c", "uno_c", "auc", "neg_ibs"])
def test_scorers_in_cross_val_score(gbsg2, name):
    X, y, _ = gbsg2
    cv = KFold(n_splits=3, shuffle=True, random_state=0)
    scores = cross_val_score(CoxWrapper(), X, y, scoring=get_scorer(name), cv=cv)
    assert np.isfinite(scores).all()
    if name == "neg_ibs":
        assert (-0.25 < scores).all() and (scores < 0).all()
    else:
        assert (scores > 0.55).all() and (scores < 0.85).all()


def test_scorer_values_equal_the_metrics_on_a_fold(gbsg2):
    X, y, _ = gbsg2
    cv = KFold(n_splits=3, shuffle=True, random_state=0)
    train, test = next(cv.split(X))
    model = CoxWrapper().fit(X.iloc[train], y[train])
    risk = model.predict(X.iloc[test])
    assert metrics.harrell_c_scorer(model, X.iloc[test], y[test]) == concordance_index_harrell(
        y[test], risk
    )
    frame_model = CoxWrapper(as_frame=True).fit(X.iloc[train], y[train])
    # scikit-survival StepFunctions and our DataFrame give the same IBS
    assert metrics.ibs_scorer(model, X.iloc[test], y[test]) == pytest.approx(
        metrics.ibs_scorer(frame_model, X.iloc[test], y[test]), abs=1e-12
    )
    scores = cross_val_score(CoxWrapper(), X, y, scoring=metrics.harrell_c_scorer, cv=cv)
    assert scores[0] == concordance_index_harrell(y[test], risk)


def test_ibs_scorer_in_grid_search(gbsg2):
    X, y, _ = gbsg2
    search = GridSearchCV(
        CoxWrapper(as_frame=True), {"alpha": [0.0, 1e3]}, scoring=metrics.ibs_scorer, cv=2
    ).fit(X, y)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.best_score_ < 0


def test_get_scorer_unknown_name_lists_known():
    assert list_scorers() == [
        "auc", "harrell_c", "log_likelihood", "neg_crps", "neg_ibs", "uno_c"]
    with pytest.raises(
        ValueError, match="unknown scorer 'c_index'.*auc, harrell_c, log_likelihood"
    ):
        get_scorer("c_index")


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "metric", [concordance_index_harrell, concordance_index_uno, cumulative_dynamic_auc]
)
def test_wrong_length_names_both_lengths(gbsg2, metric):
    _, y, risk = gbsg2
    with pytest.raises(ValueError, match="685 samples but y_true has 686"):
        metric(y, risk[:-1])


def test_wrong_number_of_columns_names_both(gbsg2):
    _, y, _ = gbsg2
    with pytest.raises(ValueError, match="685 samples but y_true has 686"):
        integrated_brier_score(y, km_frame(y, len(y) - 1))


@pytest.mark.parametrize(
    "metric", [concordance_index_harrell, concordance_index_uno, cumulative_dynamic_auc]
)
def test_nan_risk_raises(gbsg2, metric):
    _, y, risk = gbsg2
    bad = risk.copy()
    bad[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        metric(y, bad)


def test_nan_survival_raises(gbsg2):
    _, y, _ = gbsg2
    km = km_frame(y, len(y))
    km.iloc[5, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        integrated_brier_score(y, km)


def test_array_prediction_needs_times(gbsg2):
    _, y, _ = gbsg2
    with pytest.raises(ValueError, match="times is required"):
        integrated_brier_score(y, np.full((len(y), 50), 0.5))
    with pytest.raises(ValueError, match="strictly increasing"):
        integrated_brier_score(y, np.full((len(y), 2), 0.5), times=[900.0, 400.0])
    with pytest.raises(ValueError, match="follow-up window"):
        integrated_brier_score(y, np.full((len(y), 2), 0.5), times=[400.0, 1e5])


def test_bad_target_is_named(gbsg2):
    _, _, risk = gbsg2
    with pytest.raises(ValueError, match="y_true: "):
        concordance_index_harrell((np.ones(len(risk)), np.zeros(len(risk))), risk)
