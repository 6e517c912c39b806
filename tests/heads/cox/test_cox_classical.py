"""The classical Cox path agrees with lifelines and statsmodels."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import dummy_frame
from lifelines import CoxPHFitter
from statsmodels.duration.hazard_regression import PHReg

import structunstruct as su
from structunstruct.classical import fit_cox


def _lifelines_fit(X, y):
    """lifelines to full convergence: its default stopping rule (precision 1e-7 on the
    step) leaves WHAS500's ``sho`` coefficient 1.5e-5 short of the optimum, which
    statsmodels and a tighter lifelines run agree on to 1e-10."""
    design = dummy_frame(X)
    frame = design.assign(T=y["time"], E=y["event"].astype(int))
    fitter = CoxPHFitter().fit(frame, "T", "E", fit_options={"precision": 1e-10})
    return fitter, design


@pytest.mark.parametrize("dataset", ["gbsg2", "whas500"])
def test_efron_matches_lifelines(dataset, request):
    X, y = request.getfixturevalue(dataset)
    model = su.DeepSurv(structured=list(X.columns), tabular=[], ties="efron").fit(X, y)
    reference, design = _lifelines_fit(X, y)
    ref = reference.summary.loc[list(design.columns)]
    ours = model.summary_.loc[list(design.columns)]
    np.testing.assert_allclose(ours["coef"], ref["coef"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(ours["se"], ref["se(coef)"], rtol=1e-4)
    np.testing.assert_allclose(ours["p"], ref["p"], rtol=1e-3, atol=1e-12)
    np.testing.assert_allclose(ours["exp(coef)"], np.exp(ref["coef"]), rtol=1e-5)
    assert model.converged_


@pytest.mark.parametrize("dataset", ["gbsg2", "whas500"])
def test_survival_function_matches_lifelines(dataset, request):
    X, y = request.getfixturevalue(dataset)
    model = su.DeepSurv(structured=list(X.columns), tabular=[]).fit(X, y)
    reference, design = _lifelines_fit(X, y)
    rows = X.iloc[:25]
    ours = model.predict_survival_function(rows)
    ref = reference.predict_survival_function(design.iloc[:25], times=ours.index.to_numpy())
    assert list(ours.columns) == list(rows.index)
    np.testing.assert_allclose(ours.to_numpy(), ref.to_numpy(), atol=1e-3)
    np.testing.assert_allclose(
        model.predict_median(rows), reference.predict_median(design.iloc[:25]).to_numpy()
    )


@pytest.mark.parametrize("dataset", ["gbsg2", "whas500"])
def test_breslow_matches_statsmodels(dataset, request):
    X, y = request.getfixturevalue(dataset)
    model = su.DeepSurv(structured=list(X.columns), tabular=[], ties="breslow").fit(X, y)
    design = dummy_frame(X)
    ref = PHReg(y["time"], design.to_numpy(), status=y["event"].astype(int), ties="breslow").fit()
    ours = model.summary_.loc[list(design.columns)]
    np.testing.assert_allclose(ours["coef"], ref.params, atol=1e-5, rtol=0)
    np.testing.assert_allclose(ours["se"], ref.bse, rtol=1e-4)


def test_whas500_has_tied_times(whas500):
    """WHAS500 exercises Efron's correction: Efron and Breslow estimates differ."""
    X, y = whas500
    times = y["time"][y["event"]]
    assert len(np.unique(times)) < len(times)
    efron = su.DeepSurv(structured=list(X.columns), tabular=[], ties="efron").fit(X, y)
    breslow = su.DeepSurv(structured=list(X.columns), tabular=[], ties="breslow").fit(X, y)
    assert np.max(np.abs(efron.coef_ - breslow.coef_)) > 1e-4


def test_offset_shifts_only_the_offset_part(rng):
    n = 400
    X = rng.normal(size=(n, 2))
    offset = rng.normal(size=n)
    eta = X @ np.array([0.7, -0.4]) + offset
    time = rng.exponential(1 / np.exp(eta))
    event = rng.random(n) < 0.8
    with_offset = fit_cox(X, time, event, offset=offset)
    ref = PHReg(time, X, status=event.astype(int), offset=offset, ties="efron").fit()
    np.testing.assert_allclose(with_offset.coef, ref.params, atol=1e-6)


def test_large_linear_predictor_is_stable(rng):
    n = 300
    X = rng.normal(size=(n, 1)) * 40
    time = rng.exponential(size=n)
    event = np.ones(n, dtype=bool)
    fit = fit_cox(X, time, event)
    assert np.isfinite(fit.coef).all() and np.isfinite(fit.log_likelihood)


def test_monotone_likelihood_warns(gbsg2):
    """A level with no events drives its coefficient to infinity: warn, do not hide it."""
    from sklearn.exceptions import ConvergenceWarning

    X, y = gbsg2
    X = X[["age"]].assign(group=np.where(np.arange(len(X)) % 7 == 0, "a", "b"))
    y = y.copy()
    y["event"][X["group"].to_numpy() == "a"] = False
    with pytest.warns(ConvergenceWarning, match=r"monotone likelihood"):
        model = su.DeepSurv(structured=["age", "group"], tabular=[]).fit(X, y)
    assert not model.converged_
    assert model.summary_.loc["group[b]", "se"] > 1e6
    assert model.summary_.loc["age", "se"] < 1  # the finite coefficient keeps its standard error
