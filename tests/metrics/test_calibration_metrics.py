"""D-calibration and the integrated calibration index: hand computations and simulations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sksurv.util import Surv

from structunstruct.metrics import (
    d_calibration,
    integrated_calibration_index,
    smoothed_calibration,
)
from structunstruct.metrics._calibration import restricted_cubic_splines


def _simulate(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Exponential event times with rate exp(x), uniform censoring; returns y and rates."""
    rng = np.random.default_rng(seed)
    rate = np.exp(rng.normal(size=n))
    event_time = rng.exponential(1.0 / rate)
    censor = rng.uniform(0.0, 3.0, size=n)
    y = Surv.from_arrays(event_time <= censor, np.minimum(event_time, censor))
    return y, rate


def test_d_calibration_counts_by_hand():
    # 4 bins [0, .25) [.25, .5) [.5, .75) [.75, 1]; S_i(T_i) and event:
    # event .1 -> bin 0; event .8 -> bin 3; censored .6 -> (.6-.5)/.6 to bin 2 and
    # .25/.6 to bins 0, 1; censored 1.0 -> .25 to each bin; censored 0 -> 1 to bin 0.
    y = Surv.from_arrays([True, True, False, False, False], [1.0, 2.0, 3.0, 4.0, 5.0])
    s = np.array([0.1, 0.8, 0.6, 1.0, 0.0])
    result = d_calibration(y, s, n_bins=4)
    expected = np.array([1 + 5 / 12 + 0.25 + 1, 5 / 12 + 0.25, 1 / 6 + 0.25, 1 + 0.25])
    np.testing.assert_allclose(result.counts, expected, rtol=1e-12)
    chi2 = ((expected - 1.25) ** 2).sum() / 1.25
    assert result.statistic == pytest.approx(2.4333333333333, rel=1e-9)
    assert result.statistic == pytest.approx(chi2, rel=1e-12)
    assert result.pvalue == pytest.approx(stats.chi2.sf(chi2, 3), rel=1e-12)


def test_d_calibration_reads_a_survival_frame_at_each_own_time():
    y = Surv.from_arrays([True, True, False], [1.0, 2.5, 0.5])
    frame = pd.DataFrame(
        {"a": [0.9, 0.3, 0.2], "b": [0.95, 0.7, 0.55], "c": [0.4, 0.3, 0.2]},
        index=[1.0, 2.0, 3.0],
    )
    # own times: a at 1.0 -> 0.9; b at 2.5 -> 0.7 (step held); c at 0.5 -> 1 (before grid)
    direct = d_calibration(y, np.array([0.9, 0.7, 1.0]), n_bins=5)
    from_frame = d_calibration(y, frame, n_bins=5)
    np.testing.assert_allclose(from_frame.counts, direct.counts)


def test_calibrated_model_passes_and_miscalibrated_fails():
    y, rate = _simulate(2000, seed=1)
    truth = np.exp(-rate * y["time"])
    calibrated = d_calibration(y, truth)
    assert calibrated.counts.sum() == pytest.approx(2000)
    assert calibrated.pvalue > 0.01
    too_risky = d_calibration(y, truth**3)  # hazards three times too large
    assert too_risky.pvalue < 1e-10


def test_ici_near_zero_when_calibrated_and_large_when_not():
    y, rate = _simulate(2000, seed=2)
    t = 0.5
    truth = np.exp(-rate * t)
    ici = integrated_calibration_index(y, truth, times=t)
    assert ici < 0.02
    # predicted risk 1 - S^3 overstates the risk by far more than 0.1 on average
    wrong = integrated_calibration_index(y, truth**3, times=t)
    assert wrong > 0.1
    curve = smoothed_calibration(y, truth**3, times=t)
    assert wrong == pytest.approx(np.mean(np.abs(curve.predicted - curve.observed)))
    assert np.mean(curve.predicted - curve.observed) > 0.1  # over-prediction of risk


def test_ici_takes_survival_frames_and_a_default_horizon():
    y, rate = _simulate(300, seed=3)
    grid = np.linspace(0.0, 3.0, 61)
    frame = pd.DataFrame(np.exp(-np.outer(grid, rate)), index=grid)
    t = float(np.median(y["time"][y["event"]]))
    default = smoothed_calibration(y, frame)
    assert default.t == pytest.approx(t)
    at_grid = grid[np.searchsorted(grid, t, side="right") - 1]
    np.testing.assert_allclose(default.predicted, 1 - np.exp(-rate * at_grid))


def test_restricted_cubic_splines_are_linear_outside_the_outer_knots():
    x = np.linspace(0.0, 10.0, 1001)
    basis = restricted_cubic_splines(x)
    k = np.quantile(x, [0.1, 0.5, 0.9])
    outside = x > k[2] + 1e-9
    second_difference = np.diff(basis[outside, 1], 2)
    np.testing.assert_allclose(second_difference, 0.0, atol=1e-9)
    assert np.all(basis[x <= k[0], 1] == 0.0)


def test_calibration_metric_errors():
    y, rate = _simulate(50, seed=4)
    with pytest.raises(ValueError, match="n_bins"):
        d_calibration(y, np.full(50, 0.5), n_bins=1)
    with pytest.raises(ValueError, match="its own time"):
        d_calibration(y, np.full(50, 0.5), times=[1.0])
    with pytest.raises(ValueError, match="same survival"):
        integrated_calibration_index(y, np.full(50, 0.5), times=1.0)
    with pytest.raises(ValueError, match="one horizon"):
        integrated_calibration_index(y, np.exp(-rate), times=[1.0, 2.0])


def test_ici_equals_r_survival_fixture():
    """R: coxph on ns(cloglog risk) with rcs knots, survfit at t (tests/fixtures/ici_survival.R)."""
    from pathlib import Path

    fixtures = Path(__file__).resolve().parents[1] / "fixtures"
    data = pd.read_csv(fixtures / "ici_survival.csv")
    reference = pd.read_csv(fixtures / "ici_survival_R.csv", index_col="model")["ici"]
    y = Surv.from_arrays(data["event"].astype(bool), data["time"])
    for model in ("calibrated", "too_risky"):
        ici = integrated_calibration_index(y, data[model].to_numpy(), times=0.5)
        assert ici == pytest.approx(reference[model], rel=1e-5), model
