"""The survival benchmark suite on a tiny run: tidy CSV and Cox agreement per fold."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's benchmarks/

from benchmarks.suite.models import MODELS, step_at  # noqa: E402
from benchmarks.suite.protocol import COLUMNS  # noqa: E402
from benchmarks.suite.survival import main  # noqa: E402


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


def test_unknown_suite_lists_known() -> None:
    from benchmarks.suite import run_suite

    with pytest.raises(SystemExit, match="known: \\['images', 'survival'\\]"):
        run_suite("nope")
    assert "ours Cox" in MODELS
