"""The plots draw the numbers they claim to: Kaplan–Meier from lifelines, summary_, effects."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from lifelines import KaplanMeierFitter  # noqa: E402
from scipy import stats  # noqa: E402

import structunstruct as su  # noqa: E402
from structunstruct import plotting  # noqa: E402
from structunstruct.data import make_survival_target  # noqa: E402
from structunstruct.metrics import calibration_curve, d_calibration  # noqa: E402

COX_TERMS = ["age", "pnodes", "tsize", "horTh", "progrec"]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def cox_data(gbsg2):
    X, y = gbsg2
    X = X[COX_TERMS].iloc[:400]
    return X, y[:400], su.DeepSurv(structured=COX_TERMS, tabular=[]).fit(X, y[:400])


@pytest.fixture(scope="module")
def pamm():
    rng = np.random.default_rng(3)
    n = 300
    X = pd.DataFrame({"x1": rng.normal(size=n), "z": rng.uniform(-2, 2, n)})
    rate = 0.2 * np.exp(0.5 * X.x1 + np.sin(X.z))
    t = rng.exponential(1 / rate)
    censor = rng.uniform(1, 8, n)
    y = make_survival_target(np.minimum(t, censor), t <= censor)
    model = su.DeepPAMM(structured="x1 + s(z)", tabular=[], cuts=8, time_varying=["x1"])
    return X, y, model.fit(X, y)


@pytest.fixture(scope="module")
def regressor():
    rng = np.random.default_rng(4)
    n = 300
    X = pd.DataFrame({"x1": rng.uniform(-2, 2, n), "z": rng.uniform(-3, 3, n)})
    y = 1 + X.x1 + np.sin(X.z) + np.exp(0.3 * X.x1) * rng.normal(size=n)
    model = su.SemiStructuredRegressor(structured="x1 + s(z)", tabular=[], scale=["x1"])
    return X, y.to_numpy(), model.fit(X, y)


def _line(ax, label):
    lines = [line for line in ax.get_lines() if line.get_label() == label]
    assert len(lines) == 1, [line.get_label() for line in ax.get_lines()]
    return lines[0]


def _band(collection, x):
    """Lower and upper edges of a fill_between polygon at each of ``x``."""
    vertices = collection.get_paths()[0].vertices
    lower = [vertices[vertices[:, 0] == xi, 1].min() for xi in x]
    upper = [vertices[vertices[:, 0] == xi, 1].max() for xi in x]
    return np.array(lower), np.array(upper)


# -- survival curves ---------------------------------------------------------------------
def test_survival_kaplan_meier_line_is_lifelines(cox_data):
    X, y, model = cox_data
    ax = plotting.plot_survival(model, X, y, groups="all")
    km = KaplanMeierFitter().fit(y["time"], y["event"])
    line = _line(ax, "Kaplan–Meier: all")
    expected = km.survival_function_.iloc[:, 0]
    expected = expected[expected.index > 0]  # lifelines starts at t = 0
    np.testing.assert_allclose(line.get_xdata()[1:], expected.index)
    np.testing.assert_allclose(line.get_ydata()[1:], expected.to_numpy(), rtol=1e-12)
    predicted = _line(ax, "predicted: all")
    mean = model.predict_survival_function(X).mean(axis=1).to_numpy()
    np.testing.assert_allclose(predicted.get_ydata()[-len(mean):], mean)
    # on later rows the predicted curves stop at their own last observed time
    later = plotting.plot_survival(model, X.iloc[:50], y[:50], groups="all")
    assert _line(later, "predicted: all").get_xdata().max() <= y["time"][:50].max()


def test_survival_by_risk_tercile_uses_each_tercile_rows(cox_data):
    X, y, model = cox_data
    fig, ax = plt.subplots()
    assert plotting.plot_survival(model, X, y, ax=ax) is ax
    risk = model.predict(X)
    high = np.argsort(risk, kind="stable")[-133:]
    km = KaplanMeierFitter().fit(y["time"][high], y["event"][high]).survival_function_
    km = km[km.index > 0].iloc[:, 0]
    line = _line(ax, "Kaplan–Meier: high risk")
    np.testing.assert_allclose(line.get_ydata()[1:], km.to_numpy(), rtol=1e-12)
    groups = plotting.risk_groups(risk)
    assert np.bincount(groups).tolist() == [134, 133, 133]
    assert risk[groups == 0].max() <= risk[groups == 1].min()


def test_survival_by_a_column(cox_data):
    X, y, model = cox_data
    ax = plotting.plot_survival(model, X, y, groups="horTh", ci=False)
    labels = {line.get_label() for line in ax.get_lines()}
    assert {f"Kaplan–Meier: {v}" for v in X.horTh.astype(str).unique()} <= labels
    with pytest.raises(KeyError, match="nosuch"):
        plotting.plot_survival(model, X, y, groups="nosuch")
    with pytest.raises(ValueError, match="same samples"):
        plotting.plot_survival(model, X, y[:-1])


# -- calibration -------------------------------------------------------------------------
def test_calibration_points_are_group_kaplan_meier(cox_data):
    X, y, model = cox_data
    t = 1000.0
    ax = plotting.plot_calibration(model, X, y, t, n_bins=4)
    container = ax.containers[0]
    points = container.lines[0]
    survival = model.predict_survival_function(X, [t]).to_numpy()[0]
    curve = calibration_curve(y, survival, t, n_bins=4)
    np.testing.assert_allclose(points.get_xdata(), curve["predicted"])
    np.testing.assert_allclose(points.get_ydata(), curve["observed"])
    # independent: the lowest-survival group's Kaplan–Meier at t from lifelines
    lowest = np.argsort(survival, kind="stable")[:100]
    km = KaplanMeierFitter().fit(y["time"][lowest], y["event"][lowest])
    assert points.get_ydata()[0] == pytest.approx(km.predict(t), rel=1e-12)
    segments = container.lines[2][0].get_segments()
    np.testing.assert_allclose([s[0][1] for s in segments], curve["observed_lower"])
    np.testing.assert_allclose([s[1][1] for s in segments], curve["observed_upper"])
    assert any(line.get_label().startswith("smoothed (ICI") for line in ax.get_lines())


def test_d_calibration_bars_are_the_metric(cox_data):
    X, y, model = cox_data
    ax = plotting.plot_d_calibration(model, X, y, n_bins=5)
    heights = np.array([patch.get_height() for patch in ax.patches])
    counts = d_calibration(y, model.predict_survival_function(X), n_bins=5).counts
    np.testing.assert_allclose(heights, counts / len(y))
    assert heights.sum() == pytest.approx(1.0)
    assert "p =" in ax.get_title()


# -- forest plot ---------------------------------------------------------------------------
def test_forest_plot_points_and_intervals_are_the_summary(cox_data):
    _, _, model = cox_data
    ax = plotting.plot_hazard_ratios(model)
    table = model.summary_
    container = ax.containers[0]
    points = container.lines[0]
    np.testing.assert_allclose(points.get_xdata(), table["exp(coef)"])
    segments = container.lines[2][0].get_segments()
    np.testing.assert_allclose([s[0][0] for s in segments], np.exp(table["lower 95%"]))
    np.testing.assert_allclose([s[1][0] for s in segments], np.exp(table["upper 95%"]))
    ticks = {tick.get_text(): pos for tick, pos in zip(ax.get_yticklabels(), ax.get_yticks())}
    assert ticks[table.index[0]] > ticks[table.index[-1]]  # first term on top
    assert ax.get_xscale() == "log"


def test_forest_plot_of_a_regressor_uses_coefficients(regressor):
    _, _, model = regressor
    ax = plotting.plot_hazard_ratios(model, parameter="scale")
    points = ax.containers[0].lines[0]
    np.testing.assert_allclose(points.get_xdata(), model.summary_.loc[[("scale", "x1")], "coef"])
    with pytest.raises(ValueError, match="unknown parameter"):
        plotting.plot_hazard_ratios(model, parameter="shape")


# -- effects -------------------------------------------------------------------------------
@pytest.mark.parametrize("term", ["s(z)", "x1(t)", "baseline"])
def test_pamm_effect_band_is_the_effect_frame(pamm, term):
    X, _, model = pamm
    ax = plotting.plot_partial_effect(model, term, rug=X.z if term == "s(z)" else None)
    frame = model.partial_effect(term)
    line = _line(ax, term)
    np.testing.assert_allclose(line.get_xdata(), frame.index)
    np.testing.assert_allclose(line.get_ydata(), frame["effect"])
    lower, upper = _band(ax.collections[0], frame.index.to_numpy())
    np.testing.assert_allclose(lower, frame["lower 95%"])
    np.testing.assert_allclose(upper, frame["upper 95%"])


def test_time_varying_effect_at_given_times(pamm):
    _, _, model = pamm
    times = np.linspace(0.5, 5.0, 7)
    ax = plotting.plot_time_varying_effect(model, "x1", times=times)
    frame = model.partial_effect("x1(t)", times)
    np.testing.assert_allclose(_line(ax, "x1(t)").get_ydata(), frame["effect"])
    lower, upper = _band(ax.collections[0], times)
    np.testing.assert_allclose(lower, frame["lower 95%"])
    np.testing.assert_allclose(upper, frame["upper 95%"])
    assert ax.get_xlabel() == "time"
    with pytest.raises(ValueError, match="unknown term"):
        plotting.plot_time_varying_effect(model, "z")


def test_regressor_smooth_effect_band(regressor):
    _, _, model = regressor
    grid = np.linspace(-2.5, 2.5, 11)
    ax = plotting.plot_partial_effect(model, "s(z)", values=grid)
    frame = model.partial_effect("s(z)", grid=grid)
    np.testing.assert_allclose(_line(ax, "s(z)").get_ydata(), frame["effect"])
    lower, upper = _band(ax.collections[0], grid)
    np.testing.assert_allclose(lower, frame["lower 95%"])
    np.testing.assert_allclose(upper, frame["upper 95%"])
    assert ax.get_xlabel() == "z"


# -- regression ------------------------------------------------------------------------------
def test_predicted_densities_are_normal_densities(regressor):
    X, y, model = regressor
    rows = X.iloc[:3]
    grid = np.linspace(-6, 8, 50)
    ax = plotting.plot_predicted_distribution(model, rows, y[:3], grid=grid, coverage=0.8)
    params = model.predict_distribution(rows)
    for j, label in enumerate(rows.index):
        expected = stats.norm.pdf(grid, params["loc"].iloc[j], params["scale"].iloc[j])
        np.testing.assert_allclose(_line(ax, str(label)).get_ydata(), expected, rtol=1e-10)
        bar = ax.collections[j].get_segments()[0]
        z = stats.norm.ppf(0.9)
        np.testing.assert_allclose(
            [bar[0][0], bar[1][0]],
            params["loc"].iloc[j] + np.array([-z, z]) * params["scale"].iloc[j], rtol=1e-8,
        )


def test_prediction_interval_band_and_coverage(regressor):
    X, y, model = regressor
    ax = plotting.plot_prediction_intervals(model, X, y, x="x1", coverage=0.9)
    intervals = model.predict_interval(X, coverage=0.9)
    order = np.argsort(X.x1.to_numpy(), kind="stable")
    lower, upper = _band(ax.collections[0], X.x1.to_numpy()[order])
    np.testing.assert_allclose(lower, intervals[order, 0])
    np.testing.assert_allclose(upper, intervals[order, 1])
    inside = np.mean((y >= intervals[:, 0]) & (y <= intervals[:, 1]))
    assert f"({inside:.0%} inside)" in ax.get_lines()[1].get_label()
    with pytest.raises(KeyError, match="nosuch"):
        plotting.plot_prediction_intervals(model, X, x="nosuch")


# -- training history --------------------------------------------------------------------------
def test_training_history_lines_are_the_history(gbsg2):
    X, y = gbsg2
    X = X[COX_TERMS].iloc[:200]
    model = su.DeepSurv(tabular=["age", "pnodes", "tsize"], max_epochs=4, early_stopping=3,
                        random_state=0).fit(X, y[:200])
    ax = plotting.plot_training_history(model)
    history = pd.DataFrame(model.history_)
    np.testing.assert_allclose(_line(ax, "train").get_ydata(), history["train_loss"])
    np.testing.assert_allclose(_line(ax, "validation").get_ydata(), history["valid_loss"])
    kept = _line(ax, f"kept (epoch {model.best_epoch_})")
    assert kept.get_xdata()[0] == model.best_epoch_


def test_training_history_of_a_classical_fit_is_refused(cox_data):
    with pytest.raises(ValueError, match="history is empty"):
        plotting.plot_training_history(cox_data[2])
