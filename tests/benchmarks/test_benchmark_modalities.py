"""benchmarks/modalities.py: the gap share, the skip of models the package lacks, a quick run."""

from __future__ import annotations

import pandas as pd
import pytest

from benchmarks import modalities


def test_gap_closed_is_the_share_of_the_tabular_to_oracle_gap():
    results = pd.DataFrame({
        "seed": [0, 0, 0, 1, 1, 1],
        "model": ["oracle", "tabular Cox", "joint fusion (all)"] * 2,
        "c_index": [0.80, 0.60, 0.75, 0.90, 0.70, 0.70],
    })
    closed = modalities.gap_closed(results)
    assert list(closed.columns) == ["joint fusion (all)"]
    assert closed.loc[0, "joint fusion (all)"] == pytest.approx(0.75)
    assert closed.loc[1, "joint fusion (all)"] == pytest.approx(0.0)


def test_a_model_the_package_lacks_is_skipped_with_its_reason(capsys):
    absent = modalities.Model("future", lambda seed, s: None, parameters=("no_such_option",),
                              classes=("NoSuchEstimator",))
    assert "NoSuchEstimator" in modalities.missing(absent)
    parameter_only = modalities.Model("future", lambda seed, s: None, parameters=("no_such_option",))
    assert "no_such_option" in modalities.missing(parameter_only)
    assert modalities.missing(modalities.MODELS["joint fusion (all)"]) is None


def test_only_adds_the_reference_of_its_task():
    assert modalities.chosen_models(["note only"]) == ["tabular Cox", "note only"]
    assert modalities.chosen_models(["Law et al. two-stage"]) == ["structured only",
                                                                  "Law et al. two-stage"]


def test_quick_run_writes_both_tables(tmp_path):
    modalities.main(["--quick", "--only", "note only", "Law et al. two-stage",
                     "--output", str(tmp_path)])
    survival = pd.read_csv(tmp_path / "modalities.csv")
    assert set(survival["model"]) == {"oracle", "tabular Cox", "note only"}
    regression = pd.read_csv(tmp_path / "modalities_law.csv")
    assert set(regression["model"]) == {"oracle", "structured only", "Law et al. two-stage"}
    # the two-stage fit keeps the structured-only coefficients
    assert regression.set_index("model").loc["Law et al. two-stage", "coef_shift"] < 1e-8
    text = (tmp_path / "modalities.md").read_text()
    assert "gap closed" in text and "Law et al. 2019" in text
