"""The survival benchmark suite on a tiny run: tidy CSV and Cox agreement per fold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from structunstruct.benchmarks.models import step_at
from structunstruct.benchmarks.protocol import COLUMNS
from structunstruct.benchmarks.survival import main


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("bench")
    main(["--datasets", "veterans", "--models", "lifelines CoxPH", "ours Cox",
          "--folds", "2", "--repeats", "1", "--output", str(out)])
    assert (out / "survival.md").exists() and (out / "survival.png").exists()
    return pd.read_csv(out / "survival.csv")


def test_tidy_csv_columns(results: pd.DataFrame) -> None:
    assert list(results.columns) == COLUMNS
    assert len(results) == 4
    assert (results["status"] == "ok").all()
    assert results[["harrell_c", "uno_c", "ibs", "td_auc"]].notna().all().all()


def test_lifelines_and_our_cox_agree_per_fold(results: pd.DataFrame) -> None:
    wide = results.pivot(index=["repeat", "fold"], columns="model", values="harrell_c")
    np.testing.assert_allclose(wide["ours Cox"], wide["lifelines CoxPH"], atol=1e-6)
    ibs = results.pivot(index=["repeat", "fold"], columns="model", values="ibs")
    np.testing.assert_allclose(ibs["ours Cox"], ibs["lifelines CoxPH"], atol=5e-3)


def test_step_at_is_right_continuous_and_one_before_first_time() -> None:
    grid, values = np.array([1.0, 2.0]), np.array([[0.9, 0.5]])
    np.testing.assert_allclose(step_at(grid, values, np.array([0.5, 1.0, 1.5, 3.0])),
                               [[1.0, 0.9, 0.9, 0.5]])


# -- regression suite (quick path) -------------------------------------------------------------
@pytest.fixture(scope="module")
def regression_results(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    from structunstruct.benchmarks import regression

    out = tmp_path_factory.mktemp("regression")
    regression.main(["--quick", "--datasets", "diabetes", "--output", str(out)])
    assert (out / "regression_quick.md").exists() and (out / "regression_quick.png").exists()
    return pd.read_csv(out / "regression_quick.csv")


def test_regression_quick_tidy_csv(regression_results: pd.DataFrame) -> None:
    from structunstruct.benchmarks.regression import COLUMNS as REGRESSION_COLUMNS

    assert list(regression_results.columns) == REGRESSION_COLUMNS
    assert len(regression_results) == 8  # 4 models x 2 folds
    assert (regression_results["status"] == "ok").all()
    boosting = regression_results[regression_results["model"] == "sklearn HistGB"]
    assert boosting[["gaussian_ll", "crps", "coverage_90"]].isna().all().all()


def test_regression_our_linear_model_is_ols(regression_results: pd.DataFrame) -> None:
    wide = regression_results.pivot(index="fold", columns="model", values="rmse")
    np.testing.assert_allclose(wide["ours linear"], wide["statsmodels OLS"], rtol=1e-6)


def test_gaussian_scores_closed_form() -> None:
    from scipy.stats import norm

    from structunstruct.benchmarks.regression import gaussian_scores

    y, mean, sd = np.array([0.0, 1.0, 5.0]), np.zeros(3), np.full(3, 2.0)
    scores = gaussian_scores(y, mean, sd)
    assert scores["coverage_90"] == pytest.approx(2 / 3)
    assert scores["gaussian_ll"] == pytest.approx(norm.logpdf(y, 0.0, 2.0).mean())
    # CRPS of N(0, sd) at its mean is sd (sqrt(2) - 1) / sqrt(pi)
    at_mean = gaussian_scores(np.zeros(2), np.zeros(2), np.full(2, 2.0))["crps"]
    assert at_mean == pytest.approx(2.0 * (np.sqrt(2) - 1) / np.sqrt(np.pi))
    assert np.isnan(gaussian_scores(y, mean, None)["crps"])


def test_speed_criteria_read_the_tidy_rows() -> None:
    from structunstruct.benchmarks import cox_speed, deepsurv_epoch
    from structunstruct.benchmarks.speed import COLUMNS as SPEED_COLUMNS
    from structunstruct.benchmarks.speed import criteria_lines

    def row(part: str, setting: str, package: str, seconds: float, relative: float) -> dict:
        return dict(zip(SPEED_COLUMNS, [part, setting, "d", 100_000, package, "ok", seconds,
                                        seconds, 1, relative, "0.0", ""]))

    results = pd.DataFrame([
        row("cox", "light ties", cox_speed.OURS, 1.0, 1.0),
        row("cox", "light ties", cox_speed.LIFELINES, 12.0, 12.0),
        row("deepsurv", "batch 64", deepsurv_epoch.OURS, 0.6, 1.0),
        row("deepsurv", "batch 64", deepsurv_epoch.OURS_BRESLOW, 0.8, 1.0),
        row("deepsurv", "batch 64", deepsurv_epoch.PYCOX, 1.0, 1.0),
    ])
    lines = criteria_lines(results)
    assert "| 12.0× | yes |" in lines[2]
    assert lines[3].endswith("| 0.60× | yes |") and lines[4].endswith("| 0.80× | no |")
